"""Errors raised by the Experiment aggregate. Messages say what to do next."""

from domain.errors import DomainError


class ExperimentError(DomainError):
    """Base class of experiment rule violations."""


class InvalidTransition(ExperimentError):
    """The lifecycle does not allow this step from the current status."""


class InvalidVariants(ExperimentError):
    """Variants are missing, duplicated, unknown or weighted wrongly."""


class InvalidMetric(ExperimentError):
    """A metric definition is incomplete or contradicts another one."""


class InvalidText(ExperimentError):
    """A name, owner or tag that is not one line of printable text."""


class FrozenWhileRunning(ExperimentError):
    """Variants and metrics cannot change once an experiment has started."""


class InvalidTraffic(ExperimentError):
    """Coverage or weights are outside what bucketing can use."""


class NamespaceTaken(InvalidTraffic):
    """Another live experiment of the namespace holds an overlapping slice."""


class InvalidConclusion(ExperimentError):
    """The conclusion names an unknown decision or variant."""


class ExperimentNotFound(ExperimentError):
    """No experiment has this key."""


class ExperimentAlreadyExists(ExperimentError):
    """Another experiment already uses this key."""
