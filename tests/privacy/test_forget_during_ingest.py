"""`privacy forget` while ingest runs in another process: an erased subject stays erased.

A batch may be sealed with the subject's key (in the writer, or ahead of it in the prepare
worker) before the erasure commits and written after it. The writer checks the store's
erasure count in its transaction and seals the batch again; the subject then has no key and
its events are dropped (`forgotten`), never stored under a new key.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.participation.aggregate import participation_id
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.ingest.bus import Record
from infrastructure.ingest.prepare import PreparingWorker
from infrastructure.ingest.protection import build_protector
from infrastructure.ingest.runtime import prepare_worker
from infrastructure.ingest.simulate import TrafficPlan, WireMessage, wire_events
from infrastructure.ingest.writer import BatchWriter
from infrastructure.privacy.subjects import build_subjects
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.ingest.conftest import START, setup_portfolio
from tests.support.stores import store_url

PLAN = TrafficPlan(experiments=1, users=30, sessions=2.0, unknown_fraction=0.0, seed=5)


def _records(messages: list[WireMessage], first: int = 0) -> list[Record]:
    offsets: Counter[str] = Counter()
    records = []
    for message in messages:
        records.append(
            Record(message.topic, 0, first + offsets[message.topic], message.key, message.value)
        )
        offsets[message.topic] += 1
    return records


def _more_of(message: WireMessage, count: int, prefix: str = "later") -> list[WireMessage]:
    """The same user's events with new ids (they keep arriving after the erasure)."""
    body = json.loads(message.value)
    return [
        WireMessage(
            message.topic, message.key, json.dumps({**body, "event_id": f"{prefix}-{i}"}).encode()
        )
        for i in range(count)
    ]


def _participation_versions(app: NeonBlue, user: str, experiment: str) -> tuple[int, int]:
    """The user's participation version and the log head."""
    subjects = build_subjects(app)
    pid = participation_id(experiment, subjects.pseudonym(user))
    return app.repository.get(pid).version, app.head()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
def test_a_batch_sealed_before_the_erasure_is_sealed_again_and_the_subject_dropped(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    app = build_app(
        EventStoreSettings(data_dir=tmp_path, event_store=store_url(kind, tmp_path, request))
    )
    setup_portfolio(app, PLAN)
    messages = list(wire_events(PLAN, START))
    first = json.loads(messages[0].value)
    user, experiment = first["user_id"], first["experiment_id"]
    writer = BatchWriter(app, protector=build_protector(app))
    before = writer.write(_records(messages))
    assert before.forgotten == 0 and before.recorded == len(messages)
    version, _ = _participation_versions(app, user, experiment)

    subjects = build_subjects(app)
    pseudonym = subjects.pseudonym(user)
    later = _more_of(messages[0], 5) + _more_of(messages[1], 0)
    others = [  # other users' later events
        again
        for index, m in enumerate(messages[:40])
        if json.loads(m.value)["user_id"] != user
        for again in _more_of(m, 1, f"other-{index}")
    ]
    batch = _records(later + others, first=len(messages))
    prepare = writer.preparer.prepare
    calls = []

    def sealed_then_forgotten(records: Any) -> Any:  # `forget` commits after the sealing
        prepared = prepare(records)
        calls.append(len(records))
        if len(calls) == 1:
            subjects.erase(pseudonym, "erasure request", datetime.now(UTC))
        return prepared

    writer.preparer.prepare = sealed_then_forgotten  # type: ignore[method-assign]
    result = writer.write(batch)

    assert calls == [len(batch), len(batch)]  # sealed again after the check failed
    assert result.forgotten == 5 and result.recorded == len(others)
    assert subjects.key(pseudonym) is None  # no new key for an erased subject
    assert _participation_versions(app, user, experiment)[0] == version
    assert writer.write(_records(_more_of(messages[0], 3), first=10_000)).forgotten == 3
    assert subjects.key(pseudonym) is None
    app.close()


def test_the_prepare_worker_sealed_before_the_erasure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker prepares ahead of the writer: what it sealed before the erasure is
    sealed again by the writer, and the worker's own key cache follows the erasure."""
    monkeypatch.setattr(PreparingWorker, "START_AT", 1)
    monkeypatch.setattr(PreparingWorker, "READY_WAIT", 60.0)
    app = build_app(
        EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    )
    setup_portfolio(app, PLAN)
    messages = list(wire_events(PLAN, START))
    first = json.loads(messages[0].value)
    user, experiment = first["user_id"], first["experiment_id"]
    protector = build_protector(app)
    worker = prepare_worker(app, KafkaSettings(bootstrap_servers=""), protector, None)
    assert worker is not None
    writer = BatchWriter(app, protector=protector, worker=worker)
    try:
        records = _records(messages)
        writer.prepare_ahead(records)  # starts the worker
        writer.prepare_ahead(records)
        assert worker.take(records)[0] is not None and worker.sealed_under(records) == 0
        assert writer.write(records).recorded == len(messages)
        version, _ = _participation_versions(app, user, experiment)

        subjects = build_subjects(app)
        later = _records(_more_of(messages[0], 4) + _more_of(messages[2], 0), first=len(messages))
        writer.prepare_ahead(later)
        assert worker.take(later)[0] is not None  # sealed with the key, in the worker
        subjects.erase(subjects.pseudonym(user), "erasure request", datetime.now(UTC))
        result = writer.write(later)
        assert result.forgotten == 4 and result.recorded == 0
        assert _participation_versions(app, user, experiment)[0] == version

        again = _records(_more_of(messages[0], 2), first=20_000)
        writer.prepare_ahead(again)
        assert (
            worker.take(again) == [writer.preparer.prepare(again)[0]] * 2
        )  # the worker forgot too
        assert writer.write(again).forgotten == 2
        assert build_subjects(app).key(subjects.pseudonym(user)) is None
    finally:
        worker.close()
        app.close()


def _ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[WireMessage]]:
    """Services on a SQLite store holding the plan's portfolio, ingested with privacy on."""
    from infrastructure.bootstrap import bootstrap

    monkeypatch.setenv("NEONBLUE_EMBEDDINGS", "hashing")
    services = bootstrap(
        EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    )
    setup_portfolio(services.app, PLAN)
    messages = list(wire_events(PLAN, START))
    BatchWriter(services.app, protector=build_protector(services.app)).write(_records(messages))
    return services, messages


def test_a_dead_letter_written_while_forget_runs_is_deleted_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest in another process dead-letters one of the user's messages (an unknown
    experiment: the raw message is kept) after forget searched the dead letters, before
    the erasure commits: forget searches them again after its commit point."""
    import infrastructure.forgetting as forgetting
    from infrastructure.ingest.tables import tables_for

    services, messages = _ingested(tmp_path, monkeypatch)
    app = services.app
    user = json.loads(messages[0].value)["user_id"]
    writer = BatchWriter(app, protector=build_protector(app))
    body = {**json.loads(messages[0].value), "event_id": "late", "experiment_id": "no-such"}
    late = WireMessage(messages[0].topic, messages[0].key, json.dumps(body).encode())
    searched = forgetting._forget_checkpoints

    async def meanwhile_ingest_dead_letters(services_: Any, needles: list[str]) -> int:
        assert writer.write(_records([late], first=50_000)).dead_letters  # kept whole
        return await searched(services_, needles)

    monkeypatch.setattr(forgetting, "_forget_checkpoints", meanwhile_ingest_dead_letters)
    report = forgetting.forget(services, user, catch_up=False)
    assert report.committed and report.dead_letters == 1
    letters = tables_for(app).dead_letters(100)
    assert not [d for d in letters if user.encode() in (d.original or b"")], letters
    services.close()


def test_retention_spares_a_user_who_comes_back_during_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention decides who is idle from one read of the log, then forgets them one by
    one; a user whose event arrives meanwhile is checked again and kept."""
    from datetime import timedelta

    import infrastructure.forgetting as forgetting

    services, messages = _ingested(tmp_path, monkeypatch)
    app = services.app
    writer = BatchWriter(app, protector=build_protector(app))
    subjects = build_subjects(app)
    users = sorted({json.loads(m.value)["user_id"] for m in messages})
    stale = sorted(subjects.pseudonym(u) for u in users)
    back = next(u for u in users if subjects.pseudonym(u) == stale[-1])  # forgotten last
    now = START + timedelta(days=500)
    body = json.loads(next(m.value for m in messages if json.loads(m.value)["user_id"] == back))
    body.update(event_id="back-again", event_type="exposure", timestamp=now.isoformat())
    returning = WireMessage(messages[0].topic, messages[0].key, json.dumps(body).encode())
    forget = forgetting.forget

    def meanwhile_the_user_returns(*args: Any, **kwargs: Any) -> Any:
        if kwargs["subject"] == stale[0]:
            assert writer.write(_records([returning], first=90_000)).recorded == 1
        return forget(*args, **kwargs)

    monkeypatch.setattr(forgetting, "forget", meanwhile_the_user_returns)
    reports = forgetting.retention(services, timedelta(days=400), now=now, catch_up=False)
    assert sorted(r.pseudonym for r in reports) == stale[:-1]
    assert subjects.key(stale[-1]) is not None and not subjects.is_erased(stale[-1])
    services.close()
