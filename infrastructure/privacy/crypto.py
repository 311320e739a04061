"""Pseudonyms and sealed (AES-GCM) personal fields.

A sealed value is a small JSON object ``{"kid": key id, "ct": base64(nonce + ciphertext)}``
that the domain stores as opaque data. The subject's pseudonym is the associated data, so
a sealed value copied to another subject does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from binascii import b2a_base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PSEUDONYM_PREFIX = "s-"
EVENT_ID_PREFIX = "e-"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
KEY_ID_BYTES = 6
BLOCK_BYTES = 64  # SHA-256's block, for HMAC
SEALED = "protected"
"""The context (or payload) field that holds a sealed value."""


def pseudonym(secret: bytes, value: str, prefix: str = PSEUDONYM_PREFIX) -> str:
    """The keyed hash (HMAC-SHA256, first 128 bits, hex) the platform stores, joins and
    buckets on instead of a user id (or of an event id, which may embed one)."""
    return prefix + hmac.digest(secret, value.encode(), "sha256")[:16].hex()


class Pseudonymizer:
    """`pseudonym` with the HMAC key schedule done once: HMAC (RFC 2104) from SHA-256 states
    that have absorbed the padded secret, copied per value. Ingest hashes an id per event;
    this costs about half of OpenSSL's one-shot HMAC, which redoes the key schedule per call."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) > BLOCK_BYTES:
            secret = hashlib.sha256(secret).digest()
        padded = secret.ljust(BLOCK_BYTES, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(self, value: bytes) -> bytes:
        """HMAC-SHA256(secret, value)."""
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __call__(self, value: str, prefix: str = PSEUDONYM_PREFIX) -> str:
        return prefix + self.digest(value.encode())[:16].hex()


@dataclass(slots=True)
class SubjectKey:
    """One subject's data key; ``key_id`` tells keys of one pseudonym apart (a subject that
    returns after being forgotten gets a new key). Not frozen: ingest builds one per new
    subject, and a frozen dataclass's ``__init__`` costs twice as much; nothing assigns."""

    pseudonym: str
    key_id: str
    key: bytes
    aead: AESGCM = field(init=False, repr=False, compare=False)
    associated: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # built once per key, not per seal
        self.aead = AESGCM(self.key)
        self.associated = self.pseudonym.encode()

    @classmethod
    def generate(cls, subject: str) -> SubjectKey:
        return cls.generate_many([subject])[0]

    @classmethod
    def generate_many(cls, subjects: Sequence[str]) -> list[SubjectKey]:
        """New keys (256 bits) and key ids (48 bits), drawn in one system call."""
        size = KEY_ID_BYTES + KEY_BYTES
        drawn = os.urandom(size * len(subjects))
        return [
            cls(subject, drawn[at : at + KEY_ID_BYTES].hex(), drawn[at + KEY_ID_BYTES : at + size])
            for subject, at in zip(subjects, range(0, len(drawn), size), strict=True)
        ]

    def seal(self, value: Any, nonce: bytes | None = None) -> dict[str, str]:
        """``nonce``: 12 random bytes (callers sealing many values draw them in bulk)."""
        nonce = nonce or os.urandom(NONCE_BYTES)
        ciphertext = self.aead.encrypt(nonce, orjson.dumps(value), self.associated)
        return {"kid": self.key_id, "ct": b2a_base64(nonce + ciphertext, newline=False).decode()}

    def open(self, sealed: dict[str, str]) -> Any:
        """The value; raises `Unreadable` for another key or altered bytes."""
        if sealed.get("kid") != self.key_id:
            raise Unreadable("sealed with another key")
        raw = base64.b64decode(sealed["ct"])
        try:
            plain = self.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self.associated)
        except InvalidTag:
            raise Unreadable("altered or sealed for another subject") from None
        return orjson.loads(plain)


class Unreadable(ValueError):
    """A sealed value that this key cannot open."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and "kid" in value and "ct" in value
