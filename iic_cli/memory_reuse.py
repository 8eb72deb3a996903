"""Let a one-shot command keep the memory it frees, for its next arrays.

glibc hands each large block (over its mmap threshold, which grows to 32 MiB at most) back
to the kernel when freed, and shrinks the heap whenever 128 KiB lie free at its top; the
next array of that size then faults in fresh zeroed pages. A 24 MP removal allocates and
frees hundreds of megapixel-sized tensors, and its page faults took about a second of
system time. A command that exits after one removal has no use for returning memory
early, so it raises both thresholds; the daemon, which lives on between jobs, does not.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's ceiling for the mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
_TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process; False where the C library
    is not glibc (nothing changes there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols, where the C library's are: finding libc by name
        # would run ldconfig in a subprocess on every command.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    trimmed = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    mapped = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1
    return trimmed and mapped
