"""Ingest: events from Kafka (or the in-process bus) into the event store, exactly once.

`wire` validates, bounds and upcasts the seed's event JSON, `translate` turns it into domain
commands with their classification, `writer` applies a batch to the aggregates and commits
the events with the consumed offsets, the recorded event ids and the dead letters in one
transaction (`store`, `tables`), `loop` polls, batches, handles rebalances, signals and
database outages and publishes the dead letters, `dead_letters` keeps what cannot be ingested.
"""
