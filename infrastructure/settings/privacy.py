"""Settings of personal-data protection (pseudonyms and per-subject encryption)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.errors import ConfigurationError

SECRET_FILE = "privacy-secret"


class PrivacySettings(BaseSettings):
    """``NEONBLUE_PRIVACY_SECRET`` keys the subject pseudonyms (HMAC-SHA256).

    Without it, one is generated and kept next to the data: for SQLite in the file
    ``privacy-secret`` beside the database (mode 0600), for Postgres in the table
    ``neonblue_privacy_secret`` (so every process derives the same pseudonyms). Set it in
    production and keep it elsewhere. ``NEONBLUE_PRIVACY=off`` stores user
    ids and contexts in clear (the behaviour before protection existed; benchmarks compare).
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    privacy: bool = Field(True, description="Pseudonymise and encrypt personal data on ingest.")
    privacy_secret: SecretStr = Field(SecretStr(""), description="Platform pseudonym secret.")

    def configured(self) -> bytes | None:
        """The setting, if set (a ConfigurationError when too short)."""
        value = self.privacy_secret.get_secret_value()
        if not value:
            return None
        if len(value) < 16:
            raise ConfigurationError(
                "NEONBLUE_PRIVACY_SECRET must hold 16+ characters, "
                "e.g. export NEONBLUE_PRIVACY_SECRET=$(openssl rand -hex 32)."
            )
        return value.encode()

    def secret(self, stored_in: Path) -> bytes:
        """The setting, else the secret file in ``stored_in`` (created when missing)."""
        configured = self.configured()
        if configured:
            return configured
        path = stored_in / SECRET_FILE
        if not path.exists():
            _create_secret_file(path)
        secret = path.read_bytes().strip()
        if len(secret) < 16:  # pseudonyms keyed by it would differ from every other process's
            raise ConfigurationError(
                f"The privacy secret file {path} is empty or damaged. Restore it from a "
                "backup; a new secret would give every user a new pseudonym."
            )
        return secret


def _create_secret_file(path: Path) -> None:
    """Written in full under a temporary name, then linked into place: processes starting
    together never read a half-written file, and the first link wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked first: it holds
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
