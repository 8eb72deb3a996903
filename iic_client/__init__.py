"""Client of the IIC Inpaint daemon, for editor plugins and the command line.

Depends on pyzmq, msgpack and the standard library only, so editor plugins can vendor it.
"""

from iic_client.client import (
    ClientError,
    DaemonClient,
    DaemonNotRunning,
    DaemonVanished,
    Job,
    JobProgress,
    JobResult,
    RemovalRequest,
)
from iic_client.daemon_start import start_detached_daemon
from iic_client.selection_growth import AUTO_GROW, default_grow_px, resolve_grow_px

__all__ = [
    "AUTO_GROW",
    "ClientError",
    "DaemonClient",
    "DaemonNotRunning",
    "DaemonVanished",
    "Job",
    "JobProgress",
    "JobResult",
    "RemovalRequest",
    "default_grow_px",
    "resolve_grow_px",
    "start_detached_daemon",
]
