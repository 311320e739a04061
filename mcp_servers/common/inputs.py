"""Validated input types for tools: limits and patterns enforced before any query runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

ExperimentKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
        description="Experiment key (letters, digits, . _ : -), e.g. checkout-cta.",
    ),
]
UserId = Annotated[
    str, Field(min_length=1, max_length=256, description="User id as sent by the product.")
]
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
FreeText = Annotated[str, Field(min_length=1, max_length=2000)]
Engine = Literal["frequentist", "sequential", "bayesian"]
"""The statistics engines (`domain.statistics.Engine`; a test keeps them equal). Declared
here so that registering tools does not import the statistics engine (and scipy)."""
