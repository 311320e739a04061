"""Settings of personal-data protection (pseudonyms and per-subject encryption)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.errors import ConfigurationError

SECRET_FILE = "privacy-secret"


class PrivacySettings(BaseSettings):
    """``NEONBLUE_PRIVACY_SECRET`` keys the subject pseudonyms (HMAC-SHA256).

    Without it, the embedded default generates one and keeps it next to the SQLite event
    store (``<data dir>/privacy-secret``, mode 0600); a server store (Postgres) requires it, so
    every ingest process derives the same pseudonyms. ``NEONBLUE_PRIVACY=off`` stores user
    ids and contexts in clear (the behaviour before protection existed; benchmarks compare).
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    privacy: bool = Field(True, description="Pseudonymise and encrypt personal data on ingest.")
    privacy_secret: SecretStr = Field(SecretStr(""), description="Platform pseudonym secret.")

    def secret(self, stored_in: Path | None) -> bytes:
        """The platform secret: the setting, else the file in ``stored_in`` (created when
        missing); ``stored_in`` None means the store is shared and the setting is required."""
        value = self.privacy_secret.get_secret_value()
        if value:
            if len(value) < 16:
                raise ConfigurationError(
                    "NEONBLUE_PRIVACY_SECRET must hold 16+ characters, "
                    "e.g. export NEONBLUE_PRIVACY_SECRET=$(openssl rand -hex 32)."
                )
            return value.encode()
        if stored_in is None:
            raise ConfigurationError(
                "NEONBLUE_PRIVACY_SECRET is not set (a server event store needs the same secret "
                "in every process), e.g. export NEONBLUE_PRIVACY_SECRET=$(openssl rand -hex 32)."
            )
        path = stored_in / SECRET_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
        return path.read_bytes().strip()
