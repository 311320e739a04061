"""Processes starting together on a fresh Postgres store (e.g. a consumer group) all come up.

Without the retry in `build_app`, concurrent CREATE ... IF NOT EXISTS failed about one
start in two with a unique violation on the catalog or "tuple concurrently updated".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.postgres import PostgresCluster

START = (
    "import sys; from infrastructure.bootstrap import build_app; "
    "from infrastructure.settings import EventStoreSettings; "
    "build_app(EventStoreSettings(event_store=sys.argv[1])).close()"
)


def test_four_processes_start_on_a_fresh_database(postgres: PostgresCluster):
    root = Path(__file__).resolve().parents[2]
    for _ in range(3):
        url = postgres.url(postgres.create_database("race"))
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", START, url], cwd=root, stderr=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=120)[1] for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0, 0], errors
