"""Deterministic assignment of users to variants, compatible with GrowthBook's SDKs.

Implements the published GrowthBook algorithm (``hash``, ``getBucketRanges``,
``chooseVariation``, ``inNamespace``) so that a user gets the same variant here as in
any GrowthBook SDK given the same seed, hash version, coverage and weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FNV32_OFFSET_BASIS = 0x811C9DC5
FNV32_PRIME = 0x01000193
MASK32 = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the UTF-16 code units GrowthBook's JS SDK hashes (bytes for ASCII)."""
    value = FNV32_OFFSET_BASIS
    for char in text:
        value ^= ord(char)
        value = (value * FNV32_PRIME) & MASK32
    return value


def hash(seed: str, value: str, version: int) -> float | None:
    """A number in [0, 1) for (seed, value); None for an unknown hash version."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def equal_weights(num_variations: int) -> list[float]:
    if num_variations < 1:
        return []
    return [1.0 / num_variations] * num_variations


def bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """Each variation's [start, end) range of the hash space, as GrowthBook's getBucketRanges."""
    coverage = min(max(coverage, 0.0), 1.0)
    if weights is None or len(weights) != num_variations or not 0.99 <= sum(weights) <= 1.01:
        weights = equal_weights(num_variations)
    cumulative = 0.0
    ranges = []
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Index of the range containing n, or -1 when n falls outside all of them."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


def in_namespace(user_id: str, namespace: tuple[str, float, float]) -> bool:
    """Whether the user falls in the namespace slice (name, start, end)."""
    name, start, end = namespace
    n = hash("__" + name, user_id, 1)
    return n is not None and start <= n < end


@dataclass(frozen=True)
class Assignment:
    """Why a user got (or did not get) a variant; ``variant_index`` is -1 when excluded."""

    variant_index: int
    hash_value: float | None
    bucket_range: tuple[float, float] | None
    in_namespace: bool
    reason: str


def assign(
    user_id: str,
    seed: str,
    weights: Sequence[float],
    coverage: float = 1.0,
    hash_version: int = 2,
    namespace: tuple[str, float, float] | None = None,
) -> Assignment:
    """The full GrowthBook decision for one user, with the numbers behind it."""
    if namespace is not None and not in_namespace(user_id, namespace):
        return Assignment(-1, None, None, False, f"outside namespace {namespace[0]!r}")
    n = hash(seed, user_id, hash_version)
    if n is None:
        return Assignment(-1, None, None, True, f"unknown hash version {hash_version}")
    ranges = bucket_ranges(len(weights), coverage, weights)
    index = choose_variation(n, ranges)
    if index < 0:
        return Assignment(-1, n, None, True, "outside the experiment's traffic coverage")
    return Assignment(index, n, ranges[index], True, "in bucket range")
