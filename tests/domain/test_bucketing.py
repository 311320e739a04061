"""Bucketing agrees with GrowthBook's published hashing and range rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import bucketing
from domain.bucketing import assign, bucket_ranges, choose_variation, fnv1a32, in_namespace

# GrowthBook SDK reference vectors (cases.json, "hash"): seed, value, version, expected.
HASH_CASES = [
    ("", "a", 1, 0.22),
    ("", "b", 1, 0.077),
    ("b", "a", 1, 0.946),
    ("ef", "d", 1, 0.652),
    ("asdf", "8952klfjas09ujk", 1, 0.549),
    ("", "123", 1, 0.011),
    ("", '___)((*":&', 1, 0.563),
    ("seed", "a", 2, 0.0505),
    ("seed", "b", 2, 0.2696),
    ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
]

# GrowthBook "getBucketRange": (num_variations, coverage, weights) -> ranges.
RANGE_CASES = [
    ((2, 1, None), [(0, 0.5), (0.5, 1)]),
    ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
    ((2, 0, None), [(0, 0), (0.5, 0.5)]),
    ((4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
    ((3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
    ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
    ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
    ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]),
    ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]),
]


def test_fnv1a32_reference_values():
    # Landon Curt Noll's FNV-1a 32-bit test vectors.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


@pytest.mark.parametrize(("seed", "value", "version", "expected"), HASH_CASES)
def test_hash_matches_growthbook(seed, value, version, expected):
    assert bucketing.hash(seed, value, version) == expected


@pytest.mark.parametrize("version", [0, 3, 99])
def test_unknown_hash_version_is_none(version):
    assert bucketing.hash("seed", "a", version) is None


@pytest.mark.parametrize(("args", "expected"), RANGE_CASES)
def test_bucket_ranges_match_growthbook(args, expected):
    ranges = bucket_ranges(*args)
    assert len(ranges) == len(expected)
    for (start, end), (want_start, want_end) in zip(ranges, expected, strict=True):
        assert start == pytest.approx(want_start) and end == pytest.approx(want_end)


@pytest.mark.parametrize(
    ("n", "ranges", "expected"),
    [
        (0.2, [(0, 0.5), (0.5, 1)], 0),
        (0.6, [(0, 0.5), (0.5, 1)], 1),
        (0.5, [(0, 0.5), (0.5, 1)], 1),  # ranges are half-open
        (0.4, [(0, 0.25), (0.5, 0.75)], -1),  # outside coverage
        (0.0, [(0, 0), (0.5, 0.5)], -1),  # zero coverage
        (0.9, [(0, 0.3), (0.3, 0.6), (0.6, 1)], 2),
    ],
)
def test_choose_variation(n, ranges, expected):
    assert choose_variation(n, ranges) == expected


def test_in_namespace_uses_version_1_hash_of_double_underscore_name():
    for user in ("user-1", "user-2", "user-3", "user-4", "alice"):
        n = bucketing.hash("__namespace1", user, 1)
        assert in_namespace(user, ("namespace1", 0, 0.4)) == (n < 0.4)
        assert in_namespace(user, ("namespace1", 0.4, 1)) == (n >= 0.4)
    # fixed values from the published algorithm
    assert in_namespace("user-4", ("namespace1", 0, 0.4))
    assert not in_namespace("user-1", ("namespace1", 0, 0.4))


def test_uneven_weights_and_coverage_via_assign():
    outside = assign("x", "s", [0.5, 0.5], coverage=0.0001)
    assert outside.variant_index == -1 and "coverage" in outside.reason
    decision = assign("user-7", "seed-1", [0.1, 0.9])
    n = bucketing.hash("seed-1", "user-7", 2)
    assert decision.hash_value == n
    assert decision.variant_index == (0 if n < 0.1 else 1)
    excluded = assign("user-1", "s", [0.5, 0.5], namespace=("namespace1", 0, 0.4))
    assert excluded.variant_index == -1 and not excluded.in_namespace


@settings(max_examples=8, deadline=None)  # 100,000 hashes each: 1 % is six standard errors
@given(st.text(min_size=1, max_size=20), st.sampled_from([1, 2]))
def test_bucketing_is_uniform_within_one_percent(seed, version):
    counts = [0, 0]
    ranges = bucket_ranges(2)
    for i in range(100_000):
        counts[choose_variation(bucketing.hash(seed, f"user-{i}", version), ranges)] += 1
    assert abs(counts[0] / 100_000 - 0.5) < 0.01


@given(st.text(max_size=30), st.text(max_size=30), st.sampled_from([1, 2]))
def test_assignment_is_sticky_and_in_unit_interval(seed, user, version):
    first = assign(user, seed, [0.3, 0.7], hash_version=version)
    again = assign(user, seed, [0.3, 0.7], hash_version=version)
    assert first == again
    assert 0 <= first.hash_value < 1
