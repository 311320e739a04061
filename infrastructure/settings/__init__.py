"""Typed settings, one module and class per backend, read from NEONBLUE_* variables."""

from infrastructure.settings.chroma import ChromaSettings
from infrastructure.settings.clickhouse import ClickHouseSettings
from infrastructure.settings.embeddings import EmbeddingsSettings
from infrastructure.settings.errors import ConfigurationError
from infrastructure.settings.event_store import EventStoreSettings
from infrastructure.settings.kafka import KafkaSettings
from infrastructure.settings.mcp import McpSettings
from infrastructure.settings.serve import ServeSettings
from infrastructure.settings.statistics import StatisticsSettings

__all__ = [
    "ChromaSettings",
    "ClickHouseSettings",
    "ConfigurationError",
    "EmbeddingsSettings",
    "EventStoreSettings",
    "KafkaSettings",
    "McpSettings",
    "ServeSettings",
    "StatisticsSettings",
]
