"""Session data built once per test run and copied by each xdist worker (each worker built
its own before: the agent scenarios take ~10 s, the portfolio ~3 s)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A private copy (for this worker) of the directory ``build`` fills, built by the
    first worker that asks and copied by the others."""
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    built = shared / f"{name}-built"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            building = shared / f"{name}-building-{os.getpid()}"
            building.mkdir()
            build(building)
            building.rename(built)
    private = factory.mktemp(name)
    shutil.copytree(built, private, dirs_exist_ok=True)
    return private
