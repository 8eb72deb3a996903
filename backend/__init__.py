"""The local daemon editors talk to: `python -m backend` or `iic-inpaint serve`.

One process per user keeps the model warm and serves every editor session over an authenticated
ZeroMQ socket on loopback (protocol: docs/protocol.md, wire format: `iic_client.protocol`).
"""
