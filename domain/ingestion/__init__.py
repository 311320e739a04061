"""Pure pieces of ingestion: classification rules and the aggregates ingest writes besides
participations (lifecycle inboxes and unclassified events kept for triage)."""
