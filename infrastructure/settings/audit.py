"""Settings of the audit tools (operator key for signed checkpoints)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.errors import ConfigurationError
from infrastructure.settings.paths import AbsolutePath


class AuditSettings(BaseSettings):
    """``NEONBLUE_AUDIT_KEY`` signs checkpoints (HMAC-SHA256); keep it out of the data dir."""

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    data_dir: AbsolutePath = Field(
        Path(".neonblue"), validate_default=True, description="Directory for embedded stores."
    )
    audit_key: SecretStr = Field(SecretStr(""), description="Operator key for checkpoints.")
    audit_checkpoints: AbsolutePath | None = Field(
        None, description="Checkpoint file; default audit-checkpoints.jsonl in data_dir."
    )

    @property
    def checkpoint_file(self) -> Path:
        return self.audit_checkpoints or self.data_dir / "audit-checkpoints.jsonl"

    def key(self) -> bytes:
        """The operator key; a ConfigurationError says how to set it when missing."""
        value = self.audit_key.get_secret_value()
        if len(value) < 16:
            raise ConfigurationError(
                "NEONBLUE_AUDIT_KEY must hold the operator's checkpoint key (16+ characters), "
                "e.g. export NEONBLUE_AUDIT_KEY=$(openssl rand -hex 32)."
            )
        return value.encode()
