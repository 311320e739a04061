"""Ingest tests: a real broker (tansu), a fresh PostgreSQL database and unique topics each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.ingest.simulate import TrafficPlan, ensure_experiments, planned
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.support.kafka import KafkaBroker
from tests.support.postgres import PostgresCluster

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class IngestEnv:
    kafka: KafkaSettings
    store: EventStoreSettings

    def app(self) -> NeonBlue:
        return build_app(self.store)

    def environ(self) -> dict[str, str]:
        """NEONBLUE_* variables for a subprocess running the CLI against this environment."""
        k = self.kafka
        return {
            "NEONBLUE_EVENT_STORE": self.store.event_store,
            "NEONBLUE_KAFKA_BOOTSTRAP_SERVERS": k.bootstrap_servers,
            "NEONBLUE_KAFKA_GROUP_ID": k.group_id,
            "NEONBLUE_KAFKA_TOPICS": '["' + '","'.join(k.topics) + '"]',
            "NEONBLUE_KAFKA_DEAD_LETTER_TOPIC": k.dead_letter_topic,
            "NEONBLUE_KAFKA_SESSION_TIMEOUT_MS": str(k.session_timeout_ms),
            "NEONBLUE_KAFKA_HEARTBEAT_INTERVAL_MS": str(k.heartbeat_interval_ms),
            "NEONBLUE_KAFKA_PARTITIONS": str(k.partitions),
            "NEONBLUE_KAFKA_BATCH_SIZE": str(k.batch_size),
        }


def kafka_settings(broker: KafkaBroker, **overrides: object) -> KafkaSettings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "bootstrap_servers": broker.bootstrap_servers,
        "group_id": f"g-{tag}",
        "topics": (f"experiments_events-{tag}", f"user_events-{tag}", f"analytics_events-{tag}"),
        "dead_letter_topic": f"dead_letter-{tag}",
        "partitions": 4,
        "session_timeout_ms": 2000,
        "heartbeat_interval_ms": 500,
        "batch_size": 2000,
        "batch_linger_s": 0.05,
    }
    values.update(overrides)
    return KafkaSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def env(kafka_broker: KafkaBroker, postgres: PostgresCluster) -> Iterator[IngestEnv]:
    from infrastructure.ingest.kafka import ensure_topics

    settings = kafka_settings(kafka_broker)
    ensure_topics(settings, [*settings.topics, settings.dead_letter_topic])
    store = EventStoreSettings(event_store=postgres.url(postgres.create_database("ingest")))
    yield IngestEnv(settings, store)


def setup_portfolio(app: NeonBlue, plan: TrafficPlan) -> None:
    ensure_experiments(app, planned(plan), START)
