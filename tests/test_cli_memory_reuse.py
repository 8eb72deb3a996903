"""The one-shot command keeps freed memory for its next arrays (iic_cli.memory_reuse)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh interpreter: allocate and free four 16 MiB blocks, then ask glibc how much free
# memory its heap holds. By default such blocks are mapped and unmapped one by one.
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from iic_cli.memory_reuse import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    applied = keep_freed_memory() if sys.argv[1] == "keep" else None
    blocks = [bytearray(16 << 20) for _ in range(4)]
    del blocks
    print(applied, libc.mallinfo2().fordblks)
    """
)


def _free_heap_bytes(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_stay_in_the_heap_for_the_next_arrays() -> None:
    applied, kept = _free_heap_bytes("keep")
    _, kept_by_default = _free_heap_bytes("default")
    assert applied == "True"
    assert kept >= 48 << 20  # three of the four blocks at least
    assert kept_by_default < 16 << 20
