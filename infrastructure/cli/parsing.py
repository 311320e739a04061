"""Parsing of the compact variant / metric / namespace specs the CLI accepts."""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

import typer

from domain.errors import DomainError
from domain.experiments.values import Metric, MetricKind, MetricRole, Namespace, Variant


class SpecError(DomainError):
    """A command-line spec could not be parsed; the message shows the expected form."""


def finite(value: float | None) -> float | None:
    """A typer callback: a range check lets NaN through (every comparison with it is false)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number here")
    return value


def parse_variant(spec: str, count: int) -> Variant:
    """``key``, ``key=weight`` or ``key:Display name=weight`` (weight defaults to 1/count)."""
    body, _, weight_text = spec.partition("=")
    key, _, name = body.partition(":")
    try:
        weight = float(weight_text) if weight_text else 1.0 / count
    except ValueError:
        raise SpecError(f"Variant {spec!r}: weight must be a number, e.g. control=0.5") from None
    return Variant(key.strip(), (name or key).strip(), weight)


def parse_metric(spec: str) -> Metric:
    """``key[:role][:kind][:ratio=num/den][:quantile=0.9[:per-user]][:lower-is-better][:margin=0.05]``.

    Examples: ``conversion:primary:binomial``, ``revenue:secondary:mean``,
    ``rps:secondary:ratio=revenue/sessions``, ``latency:guardrail:mean:lower-is-better:margin=0.05``,
    ``page_load_ms:guardrail:quantile=0.9`` (p90 of all page loads),
    ``basket:secondary:quantile=0.5:per-user`` (median of the users' totals).
    """
    key, *tokens = [t.strip() for t in spec.split(":")]
    role, kind = MetricRole.SECONDARY, MetricKind.MEAN
    numerator = denominator = None
    higher_is_better, margin = True, None
    level, per_user = None, False
    for token in tokens:
        name, _, value = token.partition("=")
        if name in MetricRole.__members__.values():
            role = MetricRole(name)
        elif name in MetricKind.__members__.values():
            kind = MetricKind(name)
            if name == MetricKind.RATIO:
                numerator, _, denominator = value.partition("/")
            if name == MetricKind.QUANTILE:
                try:
                    level = float(value)
                except ValueError:
                    raise SpecError(
                        f"Metric {spec!r}: quantile needs a level, e.g. quantile=0.9"
                    ) from None
        elif name == "per-user":
            per_user = True
        elif name == "lower-is-better":
            higher_is_better = False
        elif name == "margin":
            try:
                margin = float(value)
            except ValueError:
                raise SpecError(f"Metric {spec!r}: margin must be a number") from None
        else:
            raise SpecError(
                f"Metric {spec!r}: unknown part {token!r}. Form: "
                "key[:primary|secondary|guardrail][:binomial|mean|ratio=num/den|quantile=0.9]"
                "[:per-user][:lower-is-better][:margin=0.05]"
            )
    return Metric(
        key,
        role,
        kind,
        numerator or None,
        denominator or None,
        higher_is_better,
        margin,
        level,
        per_user,
    )


def variant_of(entry: object, count: int) -> Variant:
    """A spec's variant: the option's text, or the object `experiments show --json` prints."""
    if isinstance(entry, str):
        return parse_variant(entry, count)
    try:
        assert isinstance(entry, dict) and set(entry) <= {"key", "name", "weight"}
        key = entry["key"]
        assert isinstance(key, str)
        return Variant(key, entry.get("name") or key, _number(entry.get("weight", 1.0 / count)))
    except (AssertionError, KeyError, TypeError, ValueError):
        raise SpecError(
            f'Variant {entry!r}: expected \'key=weight\' or {{"key": ..., "weight": ...}} '
            '(and optionally "name"; no other field)'
        ) from None


def metric_of(entry: object) -> Metric:
    """A spec's metric: the option's text, or the object `experiments show --json` prints."""
    if isinstance(entry, str):
        return parse_metric(entry)
    try:
        assert isinstance(entry, dict)
        return Metric.from_dict(entry)
    except (AssertionError, KeyError, TypeError, ValueError):
        raise SpecError(
            f"Metric {entry!r}: expected 'key:role:kind' or an object with key, role and kind "
            "(as `experiments show --json` prints)"
        ) from None


def _number(value: object) -> float:
    """A JSON number (not a string or a boolean that `float` would take)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def parse_namespace(spec: str) -> Namespace:
    """``name:start:end``, e.g. ``checkout:0:0.5``."""
    try:
        name, start, end = spec.split(":")
        return Namespace(name, float(start), float(end))
    except ValueError:
        raise SpecError(
            f"Namespace {spec!r}: expected name:start:end, e.g. checkout:0:0.5"
        ) from None


def namespace_of(entry: object) -> Namespace:
    """A spec's namespace: the option's text, or the object `experiments show --json` prints."""
    if isinstance(entry, str):
        return parse_namespace(entry)
    try:
        if isinstance(entry, dict) and set(entry) == {"name", "start", "end"}:
            return Namespace(entry["name"], _number(entry["start"]), _number(entry["end"]))
    except (KeyError, TypeError, ValueError):
        pass
    raise SpecError(
        f'Namespace {entry!r}: expected \'name:start:end\' or {{"name": ..., "start": ..., '
        '"end": ...}'
    )


def read_spec(path: Path) -> dict[str, Any]:
    """The fields of an `experiments create --spec` file (checked as `_check_spec` says)."""
    try:
        # utf-8-sig: a byte-order mark, as some editors write, is not part of the JSON
        spec = json.loads(path.read_text(encoding="utf-8-sig"), object_pairs_hook=_no_duplicates)
    except (OSError, ValueError) as error:  # JSON, or bytes that are not UTF-8
        raise SpecError(f"Cannot read spec {path}: {error}") from None
    except RecursionError:
        raise SpecError(f"Cannot read spec {path}: it nests too deep to be a spec") from None
    _check_spec(path, spec)
    return spec


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique (JSON lets the last of two win, silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


_SPEC_TEXT = ("key", "name", "hypothesis", "description", "owner", "seed")
_SPEC_LISTS = ("variants", "metrics", "tags")
_SPEC_FIELDS = {*_SPEC_TEXT, *_SPEC_LISTS, "coverage", "hash_version", "namespace"}
_SHOWN_ONLY = {"status", "started_at", "stopped_at", "decision", "winner", "reason", "version"}
"""What `experiments show --json` prints besides the spec's fields (its state: ignored)."""


def _check_spec(path: Path, spec: Any) -> None:
    """The spec's shape, before any field is used (the options' syntax, as strings)."""
    problem = None
    if not isinstance(spec, dict):
        kind = "null" if spec is None else {list: "array", str: "string"}.get(type(spec), "number")
        problem = f"it holds a JSON {kind}, not an object"
    elif unknown := sorted(set(spec) - _SPEC_FIELDS - _SHOWN_ONLY):
        near = difflib.get_close_matches(unknown[0], sorted(_SPEC_FIELDS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        problem = (
            f"unknown field {unknown[0]!r}{hint}; the fields are {', '.join(sorted(_SPEC_FIELDS))}"
        )
    else:
        for field in _SPEC_TEXT:
            if field in spec and not isinstance(spec[field], str):
                problem = f"{field!r} must be a string"
        for field in _SPEC_LISTS:
            value = spec.get(field, [])
            kinds = (str, dict) if field != "tags" else (str,)  # objects: as `show --json`
            if not (isinstance(value, list) and all(isinstance(v, kinds) for v in value)):
                problem = f"{field!r} must be a list of strings as the options take them"
        coverage = spec.get("coverage", 1.0)
        if isinstance(coverage, bool) or not isinstance(coverage, int | float):
            problem = "'coverage' must be a number"
        version = spec.get("hash_version", 2)
        if isinstance(version, bool) or not isinstance(version, int):
            problem = "'hash_version' must be 1 or 2"
        if not isinstance(spec.get("namespace") or "", str | dict):
            problem = "'namespace' must be 'name:start:end' or an object as `show --json` prints"
    if problem is not None:
        raise SpecError(
            f"Spec {path}: {problem}, e.g. "
            '{"name": "Checkout", "variants": ["control:0.5", "green:0.5"], '
            '"metrics": ["conversion:primary:binomial"], "coverage": 1.0}.'
        )
