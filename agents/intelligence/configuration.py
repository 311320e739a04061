"""Settings of the experiment-intelligence graph."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.statistics import StatsEngine


class IntelligenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEONBLUE_AGENT_", extra="ignore")

    planned_days: float = Field(28.0, description="Planned duration used for conditional power.")
    similar_experiments: int = Field(5, description="Past experiments to look up for context.")
    engine: StatsEngine | None = Field(
        None,
        description="Statistics engine for verdicts; unset: the platform's NEONBLUE_STATS_ENGINE.",
    )
