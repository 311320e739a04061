"""Change data capture end to end: Debezium change events on the real broker (tansu),
ingested into PostgreSQL by `neonblue ingest`'s loop; a connector restart that re-sends
everything changes nothing."""

from __future__ import annotations

from domain.experiments.values import Status
from infrastructure.ingest.kafka import KafkaProducer, ensure_topics
from infrastructure.ingest.runtime import dead_letters, kafka_loop
from tests.ingest.conftest import IngestEnv
from tests.ingest.debezium import Operational, experiment_row, variant_row


def test_change_events_over_kafka_become_experiments_exactly_once(env: IngestEnv) -> None:
    tag = env.kafka.group_id
    experiments, variants = f"op-{tag}.public.experiments", f"op-{tag}.public.experiment_variants"
    settings = env.kafka.model_copy(update={"cdc_topics": (experiments, variants)})
    ensure_topics(settings, [experiments, variants])
    db = Operational(wrapped=True)
    sent: list[tuple[str, bytes | None, bytes]] = []

    def send(topic: str, value: bytes | None, key: str) -> None:
        sent.append((topic, value, key.encode()))

    send(
        experiments,
        db.insert("experiments", experiment_row("cta", "running"), snapshot=True),
        "cta",
    )
    send(experiments, db.insert("experiments", experiment_row("menu"), snapshot=True), "menu")
    for key, variant in (("cta", "control"), ("cta", "green"), ("menu", "a"), ("menu", "b")):
        send(variants, db.insert("experiment_variants", variant_row(key, variant, 0.5), snapshot=True),
             f"{key}/{variant}")  # fmt: skip
    send(experiments, db.update("experiments", {"key": "menu"}, owner="nav-team"), "menu")
    send(variants, db.delete("experiment_variants", variant_row("menu", "b", 0)), "menu/b")
    send(variants, None, "menu/b")  # the delete's tombstone
    send(experiments, db.truncate("experiments"), "")

    def publish() -> None:
        producer = KafkaProducer(settings)
        for topic, value, key in sent:
            producer.produce(topic, value, key)  # type: ignore[arg-type]
        producer.close()

    publish()
    app = env.app()
    first = kafka_loop(app, settings).run(until_idle=3.0)
    cta, menu = app.experiment("cta"), app.experiment("menu")
    assert (cta.status, cta.variant_keys()) == (Status.RUNNING, ["control", "green"])
    assert (menu.status, menu.owner, menu.variant_keys()) == (Status.DRAFT, "nav-team", ["a"])
    assert (first.recorded, first.duplicates, first.dead_lettered) == (8, 1, 1)
    [letter] = dead_letters(settings, 10, app=app)
    assert (letter.kind, letter.source_topic) == ("rejected", experiments)
    assert "TRUNCATE" in letter.reason

    # the connector restarts from an old offset and re-sends it all
    head = app.head()
    publish()
    again = kafka_loop(app, settings).run(until_idle=3.0)
    assert app.head() == head
    assert (again.consumed, again.recorded, again.duplicates) == (len(sent), 0, len(sent) - 1)
    assert again.dead_lettered == 1  # the TRUNCATE again, at its new offset
