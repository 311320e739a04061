"""Errors of ingest infrastructure; messages say what to check."""


class IngestError(Exception):
    """Base class: the CLI prints these as one-line messages."""


class BrokerUnavailable(IngestError):
    """The Kafka broker cannot be reached or rejected a request."""


class DeliveryFailed(IngestError):
    """A produced message (e.g. a dead letter) was not acknowledged by the broker."""


class NotAssigned(IngestError):
    """The consumer group assigned this process no partitions in time (`--until-idle`)."""
