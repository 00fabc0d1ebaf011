"""Keep freed tensor memory inside the process (glibc ``mallopt``).

Why: glibc's ``malloc`` serves large requests (here: every activation of the critics on
the ``N·B`` Monte-Carlo actions, ``[M, N·B, 256]`` floats) with fresh ``mmap`` pages and
returns them to the kernel on ``free``.  The next update asks for them again, and the kernel
zero-fills every 4 KiB page on first touch: thousands of page faults and a large share of
system time per ALGD update (measured in docs/performance.md, "Keeping freed memory in the process").  Raising the
``mmap`` and trim thresholds makes ``free`` keep those pages in the heap, so the next
update reuses them without faults.  PyTorch's CUDA allocator already caches device
memory; this is the CPU counterpart for the host heap.

The cost is memory held between updates: the process stays at its high-water mark instead
of shrinking after each update (the mark itself does not rise; measured in the same docs
section).  The setting is process-wide and cannot be undone, so training applies it once at
start (``system.retain_freed_memory``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["retain_freed_memory"]

# glibc malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 = 32 MiB on 64-bit systems
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def retain_freed_memory() -> bool:
    """Make glibc keep freed blocks up to 32 MiB (and up to 1 GiB of free heap top).

    Returns ``True`` when applied; ``False`` where there is no glibc (macOS, Windows,
    musl), in which case nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):  # not glibc (e.g. musl)
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    return bool(ok_mmap and ok_trim)
