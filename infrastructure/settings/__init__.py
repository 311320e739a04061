"""Typed settings, one module and class per backend, read from NEONBLUE_* variables."""

from infrastructure.settings.errors import ConfigurationError
from infrastructure.settings.event_store import EventStoreSettings
from infrastructure.settings.kafka import KafkaSettings

__all__ = ["ConfigurationError", "EventStoreSettings", "KafkaSettings"]
