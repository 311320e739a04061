"""Invariants of an experiment's definition, shared by design and later changes."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

from domain.experiments.errors import (
    InvalidMetric,
    InvalidText,
    InvalidTraffic,
    InvalidVariants,
    NamespaceTaken,
)
from domain.experiments.values import Metric, MetricKind, MetricRole, Namespace, Variant

WEIGHT_TOLERANCE = 1e-6


def check_unique(keys: Sequence[str], what: str, error: type[Exception]) -> None:
    seen: set[str] = set()
    for key in keys:
        if not key or not key.strip():
            raise error(f"Every {what} needs a non-empty key.")
        if key in seen:
            raise error(f"Duplicate {what} key {key!r}; keys must be unique.")
        seen.add(key)


KEY_CHARS = 100
KEY_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{KEY_CHARS - 1}}}")


def check_key(key: str) -> None:
    """Keys are identifiers: typed in commands, in URLs and SDK calls, shown everywhere."""
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidVariants(
            f"Experiment key {key[:120]!r} is not valid: use 1-{KEY_CHARS} letters, digits and "
            "'.', '_', ':' or '-', starting with a letter or digit (e.g. checkout-cta-2026)."
        )


_KINDS = {
    "text": (lambda v: isinstance(v, str), "a string"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
}


def check_types(
    what: str, fields: Sequence[tuple[str, object, str]], error: type[Exception]
) -> None:
    """Refuses a value of the wrong type before it is compared or stored: the log keeps
    whatever an event holds for good (``fields``: name, value, "text", "number" or "flag",
    ending in "?" where null is allowed)."""
    for name, value, kind in fields:
        optional = kind.endswith("?")
        test, wanted = _KINDS[kind.rstrip("?")]
        if not (test(value) or (optional and value is None)):
            raise error(
                f"{what}: {name} must be {wanted}{' or null' if optional else ''}, "
                f"not {value!r:.60}."
            )


LINE_CHARS = 200
DIRECTION_OVERRIDES = frozenset(map(chr, (*range(0x202A, 0x202F), *range(0x2066, 0x206A))))
"""Bidirectional embeddings, overrides and isolates: they reorder the text after them."""


def check_line(what: str, value: str, limit: int = LINE_CHARS) -> None:
    """Names, owners and tags head pages and fill table cells: one line of at most
    ``limit`` characters, with no control character or bidirectional override (a newline
    could draw a fake row or field; an override reorders what follows it)."""
    if len(value) > limit or any(
        unicodedata.category(c) == "Cc" or c in DIRECTION_OVERRIDES for c in value
    ):
        raise InvalidText(
            f"{what} must be one line of at most {limit} characters, without control or "
            f"direction-override characters; not {value[:60]!r}."
        )


def check_variant_keys(variants: Sequence[Variant]) -> None:
    for variant in variants:
        check_types(
            f"Variant {variant.key!r:.60}",
            [("key", variant.key, "text"), ("name", variant.name, "text"),
             ("weight", variant.weight, "number")],
            InvalidVariants,
        )  # fmt: skip
        check_line(f"Variant {variant.key!r:.60}: the name", variant.name)
    check_unique([v.key for v in variants], "variant", InvalidVariants)
    for variant in variants:
        if not (variant.weight >= 0 and math.isfinite(variant.weight)):
            raise InvalidVariants(
                f"Weight of variant {variant.key!r} must be a finite number >= 0, "
                f"not {variant.weight}."
            )


def check_weights_sum(total: float) -> None:
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise InvalidTraffic(
            f"Variant weights sum to {total:.6g}; they must sum to 1 (e.g. 0.5 / 0.5)."
        )


def check_coverage(coverage: float) -> None:
    if not 0 < coverage <= 1:
        raise InvalidTraffic(f"Coverage must be in (0, 1], not {coverage}.")


def check_metric(metric: Metric, all_metrics: Sequence[Metric]) -> None:
    check_types(
        f"Metric {metric.key!r:.60}",
        [("key", metric.key, "text"), ("numerator", metric.numerator, "text?"),
         ("denominator", metric.denominator, "text?"),
         ("higher_is_better", metric.higher_is_better, "flag"),
         ("margin", metric.margin, "number?"), ("quantile", metric.quantile, "number?"),
         ("quantile_per_user", metric.quantile_per_user, "flag")],
        InvalidMetric,
    )  # fmt: skip
    if metric.kind == MetricKind.RATIO:
        if not metric.numerator or not metric.denominator:
            raise InvalidMetric(
                f"Ratio metric {metric.key!r} needs a numerator and a denominator metric key."
            )
        if metric.numerator == metric.denominator:
            raise InvalidMetric(f"Ratio metric {metric.key!r} divides a metric by itself.")
    if metric.kind == MetricKind.QUANTILE:
        if metric.quantile is None or not 0 < metric.quantile < 1:
            raise InvalidMetric(
                f"Quantile metric {metric.key!r} needs a level strictly between 0 and 1 "
                f"(e.g. 0.9 for p90), not {metric.quantile}."
            )
    elif metric.quantile is not None or metric.quantile_per_user:
        raise InvalidMetric(f"Only quantile metrics take a level; {metric.key!r} is {metric.kind}.")
    if metric.kind != MetricKind.RATIO and (metric.numerator or metric.denominator):
        raise InvalidMetric(
            f"Only ratio metrics take a numerator/denominator; {metric.key!r} is {metric.kind}."
        )
    if metric.margin is None:
        return
    if metric.role != MetricRole.GUARDRAIL:
        raise InvalidMetric(
            f"Metric {metric.key!r}: a non-inferiority margin is for guardrail metrics only."
        )
    if not (math.isfinite(metric.margin) and metric.margin >= 0):
        raise InvalidMetric(
            f"Metric {metric.key!r}: the margin must be a finite number >= 0 (e.g. 0.05 for "
            f"5%), not {metric.margin}."
        )


def check_namespace_free(
    key: str, namespace: Namespace, live: Iterable[tuple[str, str, Namespace | None]]
) -> None:
    """Experiments of one namespace are mutually exclusive: one may not start or resume while
    a running or paused one (``live``: key, status, namespace) holds an overlapping slice,
    or the two would share users."""
    taken = [
        (other, status, held)
        for other, status, held in live
        if other != key and held is not None and held.overlaps(namespace)
    ]
    if taken:
        other, status, held = taken[0]
        raise NamespaceTaken(
            f"Experiment {key!r} takes {namespace}, which overlaps {held} of {other!r} "
            f"({status}): experiments of one namespace must take disjoint slices. Stop "
            f"{other!r} first, or give {key!r} a free slice."
        )


def check_namespace(namespace: Namespace) -> None:
    check_types(
        "Namespace",
        [("name", namespace.name, "text"), ("start", namespace.start, "number"),
         ("end", namespace.end, "number")],
        InvalidTraffic,
    )  # fmt: skip
    if not namespace.name.strip():
        raise InvalidTraffic("A namespace needs a name (e.g. checkout:0:0.5).")
    if not 0 <= namespace.start < namespace.end <= 1:
        raise InvalidTraffic(
            f"Namespace range [{namespace.start}, {namespace.end}) must be non-empty and lie "
            "within [0, 1] (start < end)."
        )
