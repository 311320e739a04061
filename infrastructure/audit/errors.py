"""Errors of the audit tools, printed by the CLI as one-line messages."""

from domain.errors import DomainError


class AuditError(DomainError):
    """An audit operation cannot proceed; the message says what to do."""


class TamperDetected(AuditError):
    """The log failed verification (e.g. when asked to sign a checkpoint)."""


class InvalidCheckpoint(AuditError):
    """A checkpoint's signature does not match the operator key (forged or wrong key)."""


class RecordNotFound(AuditError):
    """No recorded analysis with that id."""
