"""Freed memory is overwritten, so no file written from an uninitialised buffer can carry
personal data that this process once held.

Chroma's HNSW index (hnswlib) allocates ``data_level0`` with ``malloc`` and writes it to
``data_level0.bin`` whole, unused slots included, which it never initialises. In a process
that also handled personal data (ingest, agent checkpoints, `forget`), those bytes were
freed heap chunks, and a raw user id from a LangGraph checkpoint was found in the file in
about one run in six: forgetting cannot reach such a copy. glibc's ``M_PERTURB`` makes
``free`` fill each chunk it takes back and ``malloc`` fill each chunk it hands out, so an
uninitialised buffer reads as zeros (FILL ^ 0xFF) whatever the process held before.

Limits (README, Privacy): chunks of up to 1,032 bytes recycled through glibc's per-thread
cache skip the fill, and only memory freed after `scrub_freed_memory` is filled on free
(memory handed out by ``malloc`` is filled either way). Other C libraries: no effect.
"""

from __future__ import annotations

import ctypes
import threading
from functools import cache

M_PERTURB = -6  # glibc malloc.h
FILL = 0xFF
"""``free`` fills with 0xFF; ``malloc`` hands out FILL ^ 0xFF, i.e. zeros, like ``calloc``."""
_lock = threading.Lock()


@cache
def _mallopt() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """glibc's ``mallopt``, or None elsewhere (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def scrub_freed_memory(enabled: bool = True) -> bool:
    """Turns the fill on (or off) for the whole process; True when the C library did.

    Call it before any personal data is decoded: bootstrap and ingest do when privacy is
    on. Costs a ``memset`` per ``malloc`` and ``free`` of chunks above 1 KiB (bench:
    `python bench/ingest.py --privacy-cost`)."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    with _lock:
        return bool(mallopt(M_PERTURB, FILL if enabled else 0))
