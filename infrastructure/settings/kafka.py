"""Settings of the log (Kafka or the in-process bus) and of ingest."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SOURCE_TOPICS = ("experiments_events", "user_events", "analytics_events")
DEAD_LETTER_TOPIC = "neonblue.dead_letter"


class KafkaSettings(BaseSettings):
    """Where events come from. An empty ``NEONBLUE_KAFKA_BOOTSTRAP_SERVERS`` means the
    in-process bus (the embedded default)."""

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("", description="host:port[,host:port]; empty: in-process bus.")
    group_id: str = Field("neonblue-ingest", description="Consumer group of ingest processes.")
    topics: tuple[str, ...] = Field(SOURCE_TOPICS, description="Topics ingest consumes.")
    dead_letter_topic: str = Field(DEAD_LETTER_TOPIC, description="Where bad input goes.")
    cdc_topics: tuple[str, ...] = Field(
        (), description="Topics of Debezium change events from the operational database."
    )
    cdc_experiments_table: str = Field(
        "experiments", description="Operational table whose rows are experiments (CDC)."
    )
    cdc_variants_table: str = Field(
        "experiment_variants", description="Operational table of their variants (CDC)."
    )
    partitions: int = Field(6, description="Partitions of topics created by NeonBlue.")
    session_timeout_ms: int = Field(10_000, description="Consumer group session timeout.")
    heartbeat_interval_ms: int = Field(1_000, description="Consumer heartbeat interval.")
    batch_size: int = Field(5_000, description="Records per ingest transaction (at most).")
    batch_linger_s: float = Field(0.2, description="Longest wait to fill a batch, seconds.")
    prepare_worker: bool = Field(
        True,
        description="Under load, decode and protect the next batch in a second process while "
        "one is written (SQLite file or PostgreSQL event store).",
    )
    cache_size: int = Field(
        150_000,
        description="Aggregates kept in memory by one ingest process (<= the audit chain cache).",
    )
    max_event_bytes: int = Field(
        512 * 1024, description="Longer messages are dead-lettered as too_large."
    )
    max_event_depth: int = Field(
        32, description="JSON nested deeper than this is dead-lettered as too_deep."
    )
    max_message_bytes: int = Field(
        1_000_000,
        description="The broker's message size limit (message.max.bytes); dead letters fit it.",
    )

    @property
    def embedded(self) -> bool:
        return not self.bootstrap_servers.strip()

    def consumer_config(self, **overrides: Any) -> dict[str, Any]:
        """librdkafka settings: no auto commit (offsets live in the event store)."""
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": self.heartbeat_interval_ms,
            "fetch.min.bytes": 1,
            "queued.max.messages.kbytes": 65536,
            **overrides,
        }

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "compression.type": "none",
            "message.max.bytes": self.max_message_bytes,
            **overrides,
        }
