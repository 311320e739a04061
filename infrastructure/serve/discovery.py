"""How commands find a running `neonblue serve` for their data.

`serve` writes ``serve.json`` (URL, pid, stores) into the data directory while it runs and
removes it on a clean stop. A command uses it when the pid is alive and ``/health`` answers
for the same event store; ``NEONBLUE_SERVE_URL`` names a serve explicitly (then it must
answer, for the same event store). Kept light: imported by every CLI read command before anything heavy.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MARKER = "serve.json"
LOCK = "serve.lock"
STARTING_SECONDS = 120.0  # a serve catching up a large log before it listens


@dataclass(frozen=True)
class ServeAddress:
    url: str
    token: str | None


class ServeUnreachable(Exception):
    """``NEONBLUE_SERVE_URL`` is set but nothing answers there."""


class ServeOfAnotherStore(Exception):
    """``NEONBLUE_SERVE_URL`` names a serve of another event store than the settings do:
    answers from it mixed with the commands that open the store named here would describe
    two stores as one."""


def marker_path(data_dir: Path) -> Path:
    return data_dir / MARKER


def hold_data_dir(data_dir: Path) -> IO[bytes] | None:
    """Takes the data directory for this `serve` (held while the returned file stays open,
    or the process lives); None when another serve, or a command that writes the read
    models (`share_data_dir`), holds it."""
    return _lock(data_dir, exclusive=True)


def share_data_dir(data_dir: Path) -> IO[bytes] | None:
    """Held by commands that write the read models themselves (`projections rebuild`,
    `run`, `gc`), so that no serve starts meanwhile; None while a serve holds it."""
    return _lock(data_dir, exclusive=False)


def _lock(data_dir: Path, exclusive: bool) -> IO[bytes] | None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (the marker still names the serve)
        return open(os.devnull, "rb")  # held open by the caller
    data_dir.mkdir(parents=True, exist_ok=True)
    held = (data_dir / LOCK).open("a+b")
    try:
        fcntl.flock(held, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        return None
    return held


def _serve_holds(data_dir: Path) -> bool:
    """Whether a serve holds ``data_dir`` (a stale marker's pid may be another process's)."""
    shared = share_data_dir(data_dir)
    if shared is None:
        return True
    shared.close()
    return False


def holder(data_dir: Path) -> str | None:
    """Where the serve holding ``data_dir`` says it is, for messages (None: no serve says
    so; it is starting, or a projections command holds the directory)."""
    try:
        found = json.loads(marker_path(data_dir).read_text())
        return f"at {found['url']} (pid {found['pid']})"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_marker(data_dir: Path, url: str, store: str, starting: bool = False) -> Path:
    """``starting``: written before serve opens the read models, so that a command run
    meanwhile waits for it instead of finding them held."""
    path = marker_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    marker = {"url": url, "pid": os.getpid(), "store": store}
    partial.write_text(json.dumps(marker | {"starting": True} if starting else marker))
    partial.replace(path)
    return path


def remove_marker(data_dir: Path) -> None:
    path = marker_path(data_dir)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def find_serve(
    data_dir: Path,
    store: str,
    url: str = "",
    token: str | None = None,
    waiting: Callable[[str], None] | None = None,
) -> ServeAddress | None:
    """The serve to use for this data, or None when none runs (the caller opens the stores).
    ``waiting`` is told the URL once, when a serve is still starting and is waited for."""
    if url:
        health = _health(url, token)
        if health is None:
            raise ServeUnreachable(
                f"NEONBLUE_SERVE_URL={url} does not answer; start `neonblue serve` there or "
                "unset the variable to open the stores in this process."
            )
        served = health.get("store")
        if served != store:
            what = f"serves store {served}" if served else "does not say which store it serves"
            raise ServeOfAnotherStore(
                f"NEONBLUE_SERVE_URL={url} {what}, but your settings name store {store}; "
                "unset NEONBLUE_SERVE_URL (to use this store, or its own serve) or point it at "
                "a serve of this store."
            )
        return ServeAddress(url.rstrip("/"), token)
    try:
        found = json.loads(marker_path(data_dir).read_text())
        pid, found_url = int(found["pid"]), str(found["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        return None
    health = _health(found_url, token)
    deadline = time.monotonic() + STARTING_SECONDS
    if health is None and found.get("starting") and waiting is not None:
        waiting(found_url)
    while health is None and found.get("starting") and time.monotonic() < deadline:
        if not (_alive(pid) and _serve_holds(data_dir)):  # it failed to start
            return None
        time.sleep(0.1)  # it holds the read models already: wait for it, not past it
        health = _health(found_url, token)
    if health is None or health.get("store") != store:
        return None
    return ServeAddress(found_url.rstrip("/"), token)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _health(url: str, token: str | None) -> dict | None:
    """What serve's /health says, also when it reports a failure (503): commands then go
    through it and meet its error, instead of finding its read models held."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", headers=headers, timeout=2.0)
    except httpx.HTTPError:
        return None
    if response.status_code not in (200, 503):
        return None
    try:
        found = response.json()
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
