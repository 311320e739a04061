"""Freed memory is filled, so a buffer a C library writes out uninitialised (Chroma's HNSW
index) cannot carry personal data this process held before (privacy/heap.py)."""

from __future__ import annotations

import ctypes

import pytest

from infrastructure.privacy.heap import _mallopt, scrub_freed_memory

NEEDLE = b"u-forgotten-4242"
SIZE = 20_000  # above glibc's per-thread cache (1,032 bytes), below the mmap threshold

pytestmark = pytest.mark.skipif(_mallopt() is None, reason="glibc only")


def _reused_buffer() -> bytes:
    """A buffer filled with the needle and freed, then the next one of that size, unwritten."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    held = libc.malloc(SIZE)
    ctypes.memmove(held, NEEDLE * (SIZE // len(NEEDLE)), SIZE)
    libc.free(held)
    reused = libc.malloc(SIZE)
    try:
        return ctypes.string_at(reused, SIZE)
    finally:
        libc.free(reused)


def test_an_uninitialised_buffer_holds_zeros_not_what_was_freed() -> None:
    try:
        assert scrub_freed_memory(enabled=False)
        assert NEEDLE in _reused_buffer()  # the residue this guards against
    finally:
        assert scrub_freed_memory()  # as bootstrap leaves it when privacy is on
    assert _reused_buffer() == bytes(SIZE)
