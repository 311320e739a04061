"""Change data capture: Debezium change events of the operational database's experiments
and variants tables, mapped to experiment commands (`envelope` decodes, `mapping` applies)."""

from infrastructure.ingest.cdc.envelope import ChangeFeed, RowChange, Tombstone, decode_change

__all__ = ["ChangeFeed", "RowChange", "Tombstone", "decode_change"]
