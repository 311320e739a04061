"""The statistics engine every answer uses unless a caller names another."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

StatsEngine = Literal["frequentist", "sequential", "bayesian"]


class StatisticsSettings(BaseSettings):
    """``NEONBLUE_STATS_ENGINE``: the default engine of `results`, `report`, the demo, the
    MCP tools and the agents' verdicts (each output names the engine it used).

    Sequential is the default because results are looked at continuously (dashboards,
    agents): its confidence sequences stay valid however often they are read, where a
    fixed-horizon (frequentist) interval read every day finds "winners" that are noise.
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    stats_engine: StatsEngine = Field(
        "sequential", description="frequentist, sequential (default) or bayesian."
    )
