"""Privacy's stores under several processes at once: first starts on a fresh store, a
forget while another process reads, two rebuilds starting together."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrastructure.bootstrap import build_app
from infrastructure.privacy.keys import WalNotScrubbed
from infrastructure.privacy.subjects import build_subjects
from infrastructure.settings import ConfigurationError, EventStoreSettings
from infrastructure.settings.privacy import SECRET_FILE, PrivacySettings
from projections.relational.model import RelationalModel
from tests.support.postgres import PostgresCluster

ROOT = Path(__file__).parents[2]


def _read_secret(folder: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    out.send(PrivacySettings(privacy_secret="").secret(Path(folder)))


def test_processes_starting_together_read_one_whole_secret(tmp_path: Path) -> None:
    """The first start of a data directory by several processes (ingest and its prepare
    worker, a consumer group): none may read the secret file half-written (an empty HMAC
    key would give every user a second pseudonym)."""
    context = multiprocessing.get_context("fork")
    for round_ in range(25):
        folder = tmp_path / str(round_)
        barrier = context.Barrier(4)
        pipes = [context.Pipe(duplex=False) for _ in range(4)]
        processes = [
            context.Process(target=_read_secret, args=(str(folder), barrier, sender))
            for _, sender in pipes
        ]
        for process in processes:
            process.start()
        secrets = [receiver.recv() for receiver, _ in pipes]
        for process in processes:
            process.join(30)
        assert len(set(secrets)) == 1 and len(secrets[0]) == 64, (round_, secrets)
        assert (folder / SECRET_FILE).read_bytes().strip() == secrets[0]
        assert [p.name for p in folder.iterdir()] == [SECRET_FILE]  # no drafts left


def test_a_damaged_secret_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("")
    with pytest.raises(ConfigurationError, match=r"empty or damaged\. Restore it"):
        PrivacySettings(privacy_secret="").secret(tmp_path)


START = """
import asyncio, sys, time
from agents.common.checkpoints import open_checkpointer
from infrastructure.bootstrap import build_app
from infrastructure.ingest.protection import build_protector
from infrastructure.ingest.tables import tables_for
from infrastructure.settings import EventStoreSettings
settings = EventStoreSettings(event_store=sys.argv[1])
app = build_app(settings)
while time.time() < float(sys.argv[2]):
    pass
build_protector(app)
tables_for(app)
async def agents():
    async with open_checkpointer(settings):
        pass
asyncio.run(agents())
app.close()
"""


def test_processes_starting_together_on_a_fresh_postgres_all_come_up(
    postgres: PostgresCluster,
) -> None:
    """Privacy's secret and key tables, ingest's tables and the agents' checkpoints are
    created by whichever process comes first (a catalog race failed one start in two)."""
    env = {**os.environ}
    env.pop("NEONBLUE_PRIVACY_SECRET", None)
    for _ in range(2):
        url = postgres.url(postgres.create_database("fresh"))
        go = time.time() + 6  # the imports done, they create the tables at the same moment
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", START, url, str(go)],
                cwd=ROOT,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=120)[1] for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0, 0], errors


def test_two_rebuilds_starting_together_get_their_own_generations(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    store = EventStoreSettings(
        data_dir=tmp_path, event_store=postgres.url(postgres.create_database())
    )
    app = build_app(store)
    first, second = RelationalModel(app, store), RelationalModel(app, store)
    admin = first._admin_connection()
    second._admin_connection()
    registered, go_on = threading.Event(), threading.Event()
    execute = admin.execute

    def paused(sql: str, params: Any = ()) -> None:  # the first registers, not yet committed
        execute(sql, params)
        if sql.startswith("INSERT INTO") and "generations" in sql:
            registered.set()
            assert go_on.wait(30)

    admin.execute = paused  # type: ignore[method-assign]
    numbers: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: numbers.update(a=first.fresh_copy().generation))
    thread.start()
    assert registered.wait(30)
    threading.Timer(1.0, go_on.set).start()  # the second starts while the first holds on
    numbers["b"] = second.fresh_copy().generation
    thread.join(30)
    assert sorted(numbers.values()) == [2, 3], numbers
    assert sorted(g.state for g in second.generations()) == ["building", "building", "live"]
    first.close()
    second.close()
    app.close()


def test_forget_scrubs_the_wal_once_a_long_read_ends(tmp_path: Path) -> None:
    """serve (or any reader) holding a read keeps the WAL: forget waits for it instead of
    leaving the deleted key's page there; a read that outlasts the wait gets a message
    saying so, and the rerun scrubs."""
    store = EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    app = build_app(store)
    subjects = build_subjects(app)
    for user, hold in (("u-1", 1.0), ("u-2", None)):
        subject = subjects.pseudonym(user)
        key = subjects.keys.ensure([subject])[subject].key
        reader = sqlite3.connect(tmp_path / "e.db", isolation_level=None, check_same_thread=False)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM neonblue_subject_keys").fetchall()  # a snapshot
        if hold is not None:  # the read ends after a second: forget waits for it
            threading.Timer(hold, reader.execute, ("COMMIT",)).start()
            subjects.erase(subject, "erasure request", datetime.now(UTC))
        else:
            import infrastructure.privacy.keys as keys

            keys.SCRUB_WAIT_SECONDS, waited = 0.5, keys.SCRUB_WAIT_SECONDS
            try:
                with pytest.raises(WalNotScrubbed, match="Run the same command again"):
                    subjects.erase(subject, "erasure request", datetime.now(UTC))
            finally:
                keys.SCRUB_WAIT_SECONDS = waited
            assert subjects.is_erased(subject) and subjects.key(subject) is None
            reader.execute("COMMIT")
            assert not subjects.erase(subject, "erasure request", datetime.now(UTC)).committed
        reader.close()
        wal = tmp_path / "e.db-wal"
        assert key not in (wal.read_bytes() if wal.exists() else b""), user
        assert key not in (tmp_path / "e.db").read_bytes(), user
    app.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_forgets_of_one_user_at_once_both_end_erased(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    if kind == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.url(cluster.create_database())
    store = EventStoreSettings(data_dir=tmp_path, event_store=url)
    first_app, second_app = build_app(store), build_app(store)
    first, second = build_subjects(first_app), build_subjects(second_app)
    subject = first.pseudonym("u-7")
    first.keys.ensure([subject])
    checked = second.is_erased

    def then_the_other_commits(pseudonym: str) -> bool:  # after the second one looked
        found = checked(pseudonym)
        if not first.is_erased(pseudonym):
            assert first.erase(pseudonym, "erasure request", datetime.now(UTC)).committed
        return found

    second.is_erased = then_the_other_commits  # type: ignore[method-assign]
    outcome = second.erase(subject, "erasure request", datetime.now(UTC))
    assert not outcome.committed  # the other one did
    assert first.is_erased(subject) and first.key(subject) is None
    first_app.close()
    second_app.close()
