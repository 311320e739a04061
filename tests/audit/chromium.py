"""Headless Chromium (Debian package `chromium`) for rendering tests: DOM, console, screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
)  # fmt: skip


def chromium_binary() -> str:
    """The browser; skipped only outside CI (under CI=true a missing browser fails)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Rendering:
    dom: str
    console: list[str]  # every console message and uncaught error of the page


def _run(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="neonblue-chromium-") as profile:
        return subprocess.run(
            [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )


def render(page: Path) -> Rendering:
    """The DOM after the page's scripts ran, and what the page wrote to its console."""
    done = _run(page, "--dump-dom")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Rendering(done.stdout, console)


def screenshot(page: Path, out: Path, width: int = 800, height: int = 4000) -> Path:
    _run(page, f"--window-size={width},{height}", f"--screenshot={out}")
    return out
