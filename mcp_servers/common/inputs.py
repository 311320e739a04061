"""Validated input types for tools: limits and patterns enforced before any query runs.

Inputs are strict: numbers and booleans are not coerced (``true`` is not 1, ``"5"`` is not
5), times are ISO 8601 text within 2000-2100 (never a bare number read as seconds since
1970), and free text needs at least one visible character.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, Strict

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
ExperimentKey = Annotated[
    str,
    Field(
        pattern=KEY_PATTERN,
        description="Experiment key (letters, digits, . _ : -), e.g. checkout-cta.",
    ),
]
UserId = Annotated[
    str,
    Field(
        min_length=1, max_length=256, pattern=r"\S", description="User id as sent by the product."
    ),
]
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
FreeText = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
Engine = Literal["frequentist", "sequential", "bayesian"]
"""The statistics engines (`domain.statistics.Engine`; a test keeps them equal). Declared
here so that registering tools does not import the statistics engine (and scipy)."""
Flag = Annotated[bool, Strict()]


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _text_only(value: object) -> object:
    if isinstance(value, str | datetime | date):
        return value
    raise ValueError("give an ISO 8601 time as text, e.g. 2026-11-30T00:00:00Z")


def _bounded_moment(value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        raise ValueError("must lie between 2000-01-01 and 2100-01-01")
    return aware


def _bounded_day(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("must lie between 2000-01-01 and 2100-01-01")
    return value


Moment = Annotated[
    datetime,
    BeforeValidator(_text_only),
    AfterValidator(_bounded_moment),
    Field(description="ISO 8601 time (UTC when no offset), between 2000 and 2100."),
]
Day = Annotated[
    date,
    BeforeValidator(_text_only),
    AfterValidator(_bounded_day),
    Field(description="ISO 8601 date, between 2000 and 2100."),
]
