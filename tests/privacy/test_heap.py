"""Freed memory is filled, so a buffer a C library writes out uninitialised (Chroma's HNSW
index) cannot carry personal data this process held before (privacy/heap.py)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.privacy.heap import _mallopt, scrub_freed_memory

NEEDLE = b"u-forgotten-4242"
ROOT = Path(__file__).resolve().parents[2]
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


PROBE = """
import sys
from infrastructure.bootstrap import bootstrap
from tests.privacy.test_heap import NEEDLE, _reused_buffer
with bootstrap(vector_index=sys.argv[1] == "yes"):
    print("residue" if NEEDLE in _reused_buffer() else "filled")
"""


@pytest.mark.parametrize(("vector_index", "seen"), [("yes", "filled"), ("no", "residue")])
def test_only_a_process_that_may_open_the_vector_index_fills_freed_memory(
    tmp_path: Path, vector_index: str, seen: str
) -> None:
    """`neonblue ingest` never opens Chroma's HNSW index, so it skips the fill's cost."""
    env = {**os.environ, "NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": "",
           "NEONBLUE_PRIVACY": "on"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", PROBE, vector_index],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == seen
