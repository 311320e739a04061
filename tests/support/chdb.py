"""Another process holding the embedded chDB, as a command catching up by itself would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOLD_CHDB = """
import sys
from pathlib import Path
from projections.analytics.client import ChdbClient
client = ChdbClient(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.readline()
client.close()
"""


@contextmanager
def chdb_held(path: Path, env: dict[str, str], cwd: Path) -> Iterator[Callable[[], None]]:
    """Holds the chDB at ``path`` in another process until ``release()`` or the end."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_CHDB, str(path)],
        env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip

    def release() -> None:
        if holder.poll() is None:
            holder.communicate("\n", timeout=30)

    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield release
        release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
