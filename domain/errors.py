"""The root of every domain error, so entry points can turn them into one-line messages."""


class DomainError(Exception):
    """A rule of the domain was broken; the message says what to do instead."""
