"""Forgetting a user in the hash-chained log (crypto-shredding), on SQLite and Postgres.

A portfolio is ingested through the wire with privacy on; one user's raw id and property
values then appear nowhere (event store bytes, every read-model table, Chroma, agent
checkpoints, exports, the report), `audit verify` passes, rebuilding every projection
from position 0 gives the same post-erasure read models, and the scorecards are identical
before and after (the documented rule: contributions stay, anonymous).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp import Client

from domain import bucketing
from domain.analysis import build_scorecard
from domain.privacy.erasure import ERASED
from infrastructure.audit.export import export_rows, write_jsonl
from infrastructure.audit.report import render_report
from infrastructure.audit.report_data import report_data
from infrastructure.audit.verify import verify_log
from infrastructure.bootstrap import Services, bootstrap
from infrastructure.forgetting import (
    ForgetReport,
    catch_up_read_models,
    export,
    forget,
    retention,
)
from infrastructure.privacy.keys import key_store_for
from infrastructure.privacy.subjects import build_subjects
from infrastructure.settings import EventStoreSettings
from projections.rebuild import rebuild
from tests.privacy.scenario import Subject, bytes_under, holding, ingest_portfolio

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_forget")]
FIXED = datetime(2026, 2, 1, tzinfo=UTC)


@dataclass
class World:
    kind: str
    services: Services
    data_dir: Path
    url: str
    subject: Subject
    pseudonym: str
    key: bytes
    before: dict[str, Any]
    after: dict[str, Any]
    report: ForgetReport


def observe(services: Services) -> dict[str, Any]:
    """What users of the platform see: scorecards of both read models, reports."""
    models = services.read_models()
    seen: dict[str, Any] = {}
    for experiment in services.app.experiments():
        relational = models.model("relational").variant_sums(experiment)  # type: ignore[attr-defined]
        seen[experiment.key] = {
            "analytics": repr(models.analytics().scorecard(experiment, as_of=FIXED)),
            "relational": repr(build_scorecard(experiment, relational)),
            # the erasure event moves the log head the report names; nothing else may change
            "report": re.sub(
                r"up to position \d+",
                "up to position N",
                render_report(report_data(services.app, experiment.key), FIXED),
            ),
        }
    return seen


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEONBLUE_EMBEDDINGS", "hashing")
        patch.delenv("NEONBLUE_PRIVACY_SECRET", raising=False)
        data_dir = tmp_path_factory.mktemp(f"privacy-{request.param}")
        url = ""
        if request.param == "postgresql":
            cluster = request.getfixturevalue("postgres")
            url = cluster.url(cluster.create_database("privacy"))
        services = bootstrap(EventStoreSettings(data_dir=data_dir, event_store=url))
        subject = ingest_portfolio(services)
        catch_up_read_models(services)
        before = {"export": export(services, subject.user_id), **observe(services)}
        pseudonym = before["export"]["pseudonym"]
        key = key_store_for(services.app).get([pseudonym])[pseudonym].key
        report = forget(services, subject.user_id)
        after = {"export": export(services, subject.user_id), **observe(services)}
        yield World(request.param, services, data_dir, url, subject, pseudonym, key,
                    before, after, report)  # fmt: skip
        services.close()


def test_an_access_request_exports_everything_held_before_the_erasure(world: World) -> None:
    held = world.before["export"]
    text = json.dumps(held)
    assert held["status"] == "held" and held["key_present"]
    assert world.subject.experiment in {p["experiment"] for p in held["participations"]}
    for secret in world.subject.needles:
        assert secret in text, secret  # the opened personal fields, triage payload, dead letter
    assert [letter["kind"] for letter in held["dead_letters"]] == ["unknown_experiment"]


def test_forget_deletes_the_key_and_every_copy_outside_the_log(world: World) -> None:
    assert world.report.committed
    assert (world.report.dead_letters, world.report.checkpoint_threads) == (1, 1)
    assert world.report.conversations == 1
    assert world.services.conversations().load("other") is not None  # not about the user
    assert key_store_for(world.services.app).get([world.pseudonym]) == {}
    erased = world.after["export"]
    assert erased["status"] == "erased" and not erased["key_present"]
    assert erased["dead_letters"] == [] and erased["participations"]
    contexts = [e["context"] for p in erased["participations"] for e in p["events"]]
    assert {c["protected"] for c in contexts if "protected" in c} == {ERASED}
    assert {k["protected"] for k in erased["kept_for_triage"]} == {ERASED}
    text = json.dumps(erased).replace(f'"user_id": "{world.subject.user_id}"', "")
    assert not [s for s in world.subject.needles if s in text]


def _store_text(world: World) -> str:
    """Every row of every table of the Postgres database (event store, keys, dead letters,
    relational read model, agent checkpoints), as text; bytea as hex."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE "
            "table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        ).fetchall()
        rows = [
            str(row)
            for schema, table in tables
            for row in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t').fetchall()
        ]
    return "\n".join(rows)


def test_the_raw_id_and_property_values_are_found_nowhere(world: World) -> None:
    needles = [s.encode() for s in world.subject.needles]
    # every file: SQLite event store and read model, chDB, Chroma (its HNSW index files
    # too: privacy/heap.py), agent checkpoints
    stored = bytes_under(world.data_dir)
    assert any(name.endswith("data_level0.bin") for name in stored)
    assert holding(stored, needles) == {}
    assert holding(stored, [world.key]) == {}  # the deleted key left no copy in a page or WAL
    if world.kind == "postgresql":
        text = _store_text(world)
        hexed = [n.hex() for n in needles]
        assert [s for s in world.subject.needles if s in text] == []
        assert [h for h in hexed if h in text] == [] and world.key.hex() not in text
    analytics = world.services.read_models().analytics()
    database = analytics.live_database()
    dump = ""
    for (table,) in analytics.client.rows(f"SHOW TABLES FROM {database}"):
        dump += str(analytics.client.rows(f"SELECT * FROM {database}.`{table}`"))
    for text in (dump, _relational_dump(world), _chroma_dump(world)):
        assert [s for s in world.subject.needles if s in text] == []
        assert world.pseudonym not in text  # rows stay, anonymous
    assert f"erased-{world.services.app.head()}" in dump + _relational_dump(world)
    assert [s for s in world.subject.needles if s in _exported(world)] == []
    for view in world.after.values():
        if isinstance(view, dict) and "report" in view:
            assert [s for s in world.subject.needles if s in view["report"]] == []


def _relational_dump(world: World) -> str:
    model = world.services.read_models().model("relational")
    return json.dumps(model.projection().checksum()) + str(_all_rows(model))  # type: ignore[attr-defined]


def _all_rows(model: Any) -> list[Any]:
    projection = model.projection()
    from projections.relational.schema import ORDER

    return [projection.db.rows(f"SELECT * FROM {projection.prefix}{t}") for t in ORDER]


def _chroma_dump(world: World) -> str:
    knowledge = world.services.read_models().model("knowledge")
    live = knowledge._collection(knowledge.live_collection())  # type: ignore[attr-defined]
    return str(live.get(include=["documents", "metadatas"]))


def _exported(world: World) -> str:
    out = io.StringIO()
    write_jsonl(export_rows(world.services.app.recorder), out)
    return out.getvalue()


def test_the_log_still_verifies_and_is_unchanged_byte_for_byte(world: World) -> None:
    report = verify_log(world.services.app.recorder)
    assert report.ok, report.first
    # the log before the erasure event is the same bytes: the erasure only appended
    exported = [json.loads(line) for line in _exported(world).splitlines()]
    assert exported[-1]["topic"].endswith("SubjectErasure.Erased")
    assert world.pseudonym in exported[-1]["state"]


def test_scorecards_and_reports_are_identical_before_and_after(world: World) -> None:
    for key, view in world.before.items():
        if key == "export":
            continue
        assert world.after[key] == view, key


def test_rebuilding_every_projection_gives_the_same_post_erasure_read_models(world: World) -> None:
    models = world.services.read_models()
    for name in models.names:
        result = rebuild(models.reader, models.model(name), verify=True)
        models.switched(name)
        assert result.verified and result.differences == {}, name
    assert observe(world.services) == {k: v for k, v in world.after.items() if k != "export"}


def test_forgetting_again_completes_and_changes_nothing(world: World) -> None:
    head = world.services.app.head()
    again = forget(world.services, world.subject.user_id)
    assert not again.committed and world.services.app.head() == head


def test_retention_forgets_exactly_the_subjects_idle_for_longer(world: World) -> None:
    app = world.services.app
    last = build_subjects(app).last_activity()
    cutoff = sorted(last.values())[12]
    stale = {s for s, at in last.items() if at < cutoff} - {world.pseudonym}
    assert 5 <= len(stale) <= 12
    before = observe(world.services)
    reports = retention(world.services, timedelta(days=400), now=cutoff + timedelta(days=400))
    assert {r.pseudonym for r in reports} == stale and all(r.committed for r in reports)
    kept = set(key_store_for(app).get(list(last)))
    assert kept == set(last) - stale - {world.pseudonym}
    assert observe(world.services) == before  # anonymous contributions: same scorecards
    assert verify_log(app.recorder).ok
    assert retention(world.services, timedelta(days=400), now=cutoff + timedelta(days=400)) == []


@pytest.mark.anyio
async def test_assignment_lookups_use_the_id_ingest_stored(world: World) -> None:
    """With ids pseudonymised at ingest, `predict_user_assignment` for the raw id hashes the
    pseudonym (as server-side bucketing did) and finds the user's recorded participation."""
    user, key = world.subject.user_id, world.subject.experiment
    recorded = world.services.app.participation(key, world.pseudonym)
    assert recorded is not None and world.services.app.participation(key, user) is None
    async with Client(world.services.mcp_server("postgresql")) as client:
        who = await client.call_tool(
            "predict_user_assignment", {"experiment_id": key, "user_id": user}
        )
    answer = who.structured_content
    experiment = world.services.app.experiment(key)
    assert answer["user_id"] == user and answer["recorded_variant"] == recorded.variant
    assert answer["hash_value"] == bucketing.hash(
        experiment.seed, world.pseudonym, experiment.hash_version
    )
    assert answer["variant"] == experiment.assignment_for(world.pseudonym)[0]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
