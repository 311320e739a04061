from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from domain.privacy.erasure import erasure_hex, erasure_id


@given(st.text())
def test_the_fast_erasure_hex_is_the_erasure_ids_hex(pseudonym: str) -> None:
    assert erasure_hex(pseudonym) == erasure_id(pseudonym).hex
    assert UUID(erasure_hex(pseudonym)).version == 5
