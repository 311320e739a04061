"""The answer being written: its sentences, the facts behind its numbers, what is missing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agents.analytics.vocabulary import Vocabulary


@dataclass
class Writer:
    vocabulary: Vocabulary
    parts: list[str] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    def fact(self, label: str, value: float | None, unit: str = "") -> None:
        if value is not None and math.isfinite(value):
            self.facts.append({"label": label, "value": float(value), "unit": unit})

    def name(self, key: str) -> str:
        try:
            return f'{key} ("{self.vocabulary.entry(key).name}")'
        except StopIteration:
            return key

    def variant(self, key: str, variant: str) -> str:
        try:
            names = dict(self.vocabulary.entry(key).variants)
        except StopIteration:
            names = {}
        return f'{variant} "{names[variant]}"' if variant in names else variant


def pct(value: float | None, sign: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.1%}" if sign else f"{value:.1%}"
