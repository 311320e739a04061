"""Change data capture: Debezium change events of the operational experiments and variants
tables become experiment commands, idempotently, and what cannot be mapped is
dead-lettered. In process (the in-process bus, a SQLite store); `test_cdc_kafka` runs the
same path over the real broker and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.experiments.values import Status
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.cdc.mapping import BY
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.tables import tables_for
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.ingest.debezium import Operational, experiment_row, variant_row

EXPERIMENTS, VARIANTS = "operational.public.experiments", "operational.public.experiment_variants"
SETTINGS = KafkaSettings(bootstrap_servers="", cdc_topics=(EXPERIMENTS, VARIANTS))


class Feed:
    """Publishes change events on an in-process bus and ingests them into one store."""

    def __init__(self, app: NeonBlue) -> None:
        self.app = app
        self.bus = InProcessBus()
        self.sent: list[tuple[str, bytes | None]] = []

    def send(self, topic: str, value: bytes | None, key: str = "k") -> None:
        self.sent.append((topic, value))
        self.bus.producer().produce(topic, value, key.encode())  # type: ignore[arg-type]

    def ingest(self):
        return ingest_in_process(self.app, self.bus, SETTINGS)

    def events(self) -> int:
        return self.app.head()

    def letters(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for letter in tables_for(self.app).dead_letters(100, None):
            found.setdefault(letter.kind, []).append(letter.reason)
        return found


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    app = build_app(EventStoreSettings(event_store=f"sqlite:///{tmp_path / 'events.db'}"))
    return Feed(app)


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "schema-wrapped"])
def test_a_snapshot_creates_and_starts_experiments_once_their_variants_arrive(
    feed: Feed, wrapped: bool
) -> None:
    db = Operational(wrapped=wrapped)
    # the snapshot reads the experiments table first, then the variants table
    feed.send(
        EXPERIMENTS, db.insert("experiments", experiment_row("cta", "running"), snapshot=True)
    )
    started_at = db.ts_ms
    feed.send(
        VARIANTS,
        db.insert("experiment_variants", variant_row("cta", "control", 0.5), snapshot=True),
    )
    feed.send(
        VARIANTS, db.insert("experiment_variants", variant_row("cta", "green", 0.5), snapshot=True)
    )
    # a variant seen before its experiment row is used when the row arrives
    feed.send(
        VARIANTS, db.insert("experiment_variants", variant_row("menu", "a", 1.0), snapshot=True)
    )
    feed.send(EXPERIMENTS, db.insert("experiments", experiment_row("menu", tags="nav, mobile")))
    stats = feed.ingest()

    assert (stats.recorded, stats.dead_lettered) == (5, 0)
    cta = feed.app.experiment("cta")
    assert cta.status == Status.RUNNING
    assert [(v.key, v.name, v.weight) for v in cta.variants] == [
        ("control", "Control", 0.5), ("green", "Green", 0.5)
    ]  # fmt: skip
    assert cta.started_at.timestamp() == started_at / 1000  # the row's commit time
    assert (cta.owner, cta.tags, cta.metrics[0].key) == ("growth", ["checkout"], "conversion")
    menu = feed.app.experiment("menu")
    assert (menu.status, menu.variant_keys(), menu.tags) == (Status.DRAFT, ["a"], ["mobile", "nav"])


def test_updates_map_to_commands_and_redelivery_changes_nothing(feed: Feed) -> None:
    db = Operational()
    feed.send(EXPERIMENTS, db.insert("experiments", experiment_row("cta")))
    for variant in ("control", "green"):
        feed.send(VARIANTS, db.insert("experiment_variants", variant_row("cta", variant, 0.5)))
    feed.send(EXPERIMENTS, db.update("experiments", {"key": "cta"}, status="running", name="CTA"))
    first = feed.ingest()
    # one transaction re-weights both rows: applied once they sum to 1 again
    feed.send(
        VARIANTS, db.update("experiment_variants", variant_row("cta", "control", 0), weight=0.7)
    )
    feed.ingest()
    assert [v.weight for v in feed.app.experiment("cta").variants] == [0.5, 0.5]  # sum 1.2
    feed.send(
        VARIANTS, db.update("experiment_variants", variant_row("cta", "green", 0), weight=0.3)
    )
    feed.ingest()
    feed.send(EXPERIMENTS, db.update("experiments", {"key": "cta"}, status="concluded",
                                     decision="ship", winner="green"))  # fmt: skip
    last = feed.ingest()
    assert first.dead_lettered + last.dead_lettered == 0, feed.letters()
    cta = feed.app.experiment("cta")
    assert (cta.name, cta.status, cta.conclusion.winner) == ("CTA", Status.CONCLUDED, "green")
    assert [v.weight for v in cta.variants] == [0.7, 0.3]
    history = [type(i.event).__name__ for i in feed.app.log() if i.event.originator_id == cta.id]
    assert sorted(history[:5]) == sorted(  # the two topics are not ordered with each other
        ["Created", "VariantAdded", "VariantAdded", "DetailsChanged", "Started"]
    )
    assert history[5:] == ["TrafficChanged", "Stopped", "Concluded"]
    changes = [i.event for i in feed.app.log() if i.event.originator_id == cta.id][4:]
    assert {e.by for e in changes if hasattr(type(e), "by")} == {BY}  # named in its history

    # the connector restarts and re-sends everything at new offsets: nothing changes
    head = feed.events()
    for topic, value in list(feed.sent):
        feed.send(topic, value)
    again = feed.ingest()
    assert feed.events() == head
    assert (again.recorded, again.duplicates, again.dead_lettered) == (0, 7, 0)


def test_an_older_change_after_a_newer_one_is_ignored(feed: Feed) -> None:
    db = Operational()
    feed.send(EXPERIMENTS, db.insert("experiments", experiment_row("cta", name="First")))
    old = db.update("experiments", {"key": "cta"}, name="Second")
    feed.send(EXPERIMENTS, db.update("experiments", {"key": "cta"}, name="Third"))
    feed.send(EXPERIMENTS, old)  # at a later offset, with an earlier LSN
    stats = feed.ingest()
    assert feed.app.experiment("cta").name == "Third"
    assert (stats.recorded, stats.duplicates) == (2, 1)


def test_a_deleted_running_experiment_stops_and_its_tombstone_is_skipped(feed: Feed) -> None:
    db = Operational(wrapped=True)
    feed.send(EXPERIMENTS, db.insert("experiments", experiment_row("cta")))
    for variant in ("control", "green"):
        feed.send(VARIANTS, db.insert("experiment_variants", variant_row("cta", variant, 0.5)))
    feed.send(EXPERIMENTS, db.update("experiments", {"key": "cta"}, status="running"))
    feed.ingest()
    feed.send(EXPERIMENTS, db.delete("experiments", {"key": "cta"}))
    feed.send(EXPERIMENTS, None)  # tombstone
    for variant in ("control", "green"):  # ON DELETE CASCADE: history now, nothing to refuse
        feed.send(VARIANTS, db.delete("experiment_variants", variant_row("cta", variant, 0)))
    feed.send(EXPERIMENTS, json.dumps({"schema": None, "payload": None}).encode())  # wrapped one
    stats = feed.ingest()
    cta = feed.app.experiment("cta")
    assert cta.status == Status.STOPPED and cta.stopped_at is not None
    assert cta.variant_keys() == ["control", "green"]
    assert (stats.recorded, stats.duplicates, stats.dead_lettered) == (3, 2, 0)


def test_what_cannot_be_mapped_is_dead_lettered_and_nothing_of_it_applied(feed: Feed) -> None:
    db = Operational()
    feed.send(EXPERIMENTS, db.insert("experiments", experiment_row("cta")))
    for variant in ("control", "green"):
        feed.send(VARIANTS, db.insert("experiment_variants", variant_row("cta", variant, 0.5)))
    feed.send(EXPERIMENTS, db.update("experiments", {"key": "cta"}, status="running"))
    feed.ingest()
    head = feed.events()
    bad = [
        (VARIANTS, db.insert("experiment_variants", variant_row("cta", "blue", 0.0))),  # running
        (EXPERIMENTS, db.update("experiments", {"key": "cta"}, status="draft", name="Renamed")),
        (EXPERIMENTS, db.truncate("experiments")),
        (
            VARIANTS,
            db.insert("experiment_variants", {**variant_row("x", "a", 0.5), "weight": "Ag=="}),
        ),
        (EXPERIMENTS, b'{"op": "c", "after": {"key": "y"}}'),  # no source
        (EXPERIMENTS, b"not json"),
    ]
    unknown_table = Operational()
    event = json.loads(unknown_table.insert("experiments", experiment_row("z")))
    event["source"]["table"] = "orders"
    bad.append((EXPERIMENTS, json.dumps(event).encode()))
    for topic, value in bad:
        feed.send(topic, value)
    stats = feed.ingest()

    assert stats.dead_lettered == len(bad) and stats.recorded == 0
    assert feed.events() == head  # nothing of a refused change is applied
    cta = feed.app.experiment("cta")
    assert (cta.name, cta.status, cta.variant_keys()) == (
        "Experiment cta", Status.RUNNING, ["control", "green"]
    )  # fmt: skip
    letters = feed.letters()
    rejected = " | ".join(letters["rejected"])
    assert "Cannot add a variant" in rejected
    assert "cannot go from running to draft" in rejected
    assert "TRUNCATE" in rejected and "'orders'" in rejected
    schema = " | ".join(letters["schema"])
    assert "decimal.handling.mode=double" in schema and "source" in schema
    assert letters["not_json"]
