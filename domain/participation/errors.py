"""Errors raised when recording what a user did in an experiment."""

from domain.errors import DomainError


class ParticipationError(DomainError):
    """Base class of participation rule violations."""


class UnknownMetric(ParticipationError):
    """A metric event names a metric the experiment does not define."""


class NotCollecting(ParticipationError):
    """The experiment is not running, so new users cannot be enrolled."""


class InvalidMetricValue(ParticipationError):
    """A metric value is not a finite number (NaN or infinity would poison every sum)."""
