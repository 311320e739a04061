"""Ingest: events from Kafka (or the in-process bus) into the event store, exactly once.

`wire` validates and upcasts the seed's event JSON, `translate` turns it into domain
commands with their classification, `writer` applies a batch to the aggregates and commits
the events with the consumed offsets in one transaction, `loop` polls, batches, handles
rebalances, signals and database outages, `dead_letters` keeps what cannot be ingested.
"""
