"""Pseudonyms and sealed values: what ingest stores reveals nothing without the key."""

from __future__ import annotations

import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infrastructure.privacy.crypto import Pseudonymizer, SubjectKey, Unreadable, pseudonym

SECRET = b"s" * 32
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.binary(max_size=100), st.binary(max_size=200))
def test_the_pseudonymizer_computes_hmac_sha256(secret: bytes, value: bytes) -> None:
    assert Pseudonymizer(secret).digest(value) == hmac.digest(secret, value, "sha256")


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_pseudonyms_are_stable_keyed_and_distinct(first: str, second: str) -> None:
    hashed = Pseudonymizer(SECRET)
    assert hashed(first) == pseudonym(SECRET, first)  # the same subject, the same id
    assert hashed(first) != pseudonym(b"t" * 32, first)  # another secret, another id
    assert (hashed(first) == hashed(second)) == (first == second)
    assert first not in hashed(first)[2:] or len(first) < 3


def test_pseudonyms_keep_their_published_form() -> None:
    """HMAC-SHA256(secret, id), first 128 bits in hex: stored ids must never change form."""
    assert pseudonym(SECRET, "u-42") == "s-521cbbb320d32efc43d4ee0d81029c07"
    assert Pseudonymizer(SECRET)("u-42:checkout:1", "e-") == "e-166e49cb04fe48aa46a8ddb1369b55e6"


def test_keys_drawn_together_are_distinct_and_full_length() -> None:
    keys = SubjectKey.generate_many([f"s-{n}" for n in range(50)])
    assert [k.pseudonym for k in keys] == [f"s-{n}" for n in range(50)]
    assert {len(k.key) for k in keys} == {32} and {len(k.key_id) for k in keys} == {12}
    assert len({k.key for k in keys}) == len({k.key_id for k in keys}) == 50
    assert SubjectKey.generate_many([]) == []


@given(json_values)
def test_a_sealed_value_opens_only_with_its_subjects_key(value: object) -> None:
    key = SubjectKey.generate("s-alice")
    sealed = key.seal(value)
    assert key.open(sealed) == value
    if isinstance(value, str) and len(value) >= 8:
        assert value not in json.dumps(sealed)
    with pytest.raises(Unreadable):  # a new key for the same subject (forgotten, returned)
        SubjectKey.generate("s-alice").open(sealed)
    moved = SubjectKey("s-bob", key.key_id, key.key)  # copied to another subject
    with pytest.raises(Unreadable):
        moved.open(sealed)
