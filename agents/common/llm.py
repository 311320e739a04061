"""LLM mode: any OpenAI-compatible endpoint through langchain-openai; off by default.

The model plans and writes prose; it never decides or computes. Whatever goes wrong at the
endpoint (HTTP 5xx, a timeout, malformed JSON) the graphs fall back to their deterministic
answer and say so in one line (`llm_failure`).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LlmSettings(BaseSettings):
    """Without ``NEONBLUE_LLM_BASE_URL`` the graphs run deterministically (no LLM)."""

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_LLM_", extra="ignore")

    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8001/v1."
    )
    api_key: str = Field("not-needed", description="API key for the endpoint.")
    model: str = Field("gpt-4o-mini", description="Model name.")
    timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="Per-request timeout; then the deterministic answer."
    )
    max_retries: int = Field(0, ge=0, le=5, description="Retries per request after a failure.")

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)


def chat_model(settings: LlmSettings):  # -> ChatOpenAI | None, imported lazily (slow import)
    if not settings.enabled:
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key,
        model=settings.model,
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
        temperature=0,
    )


def llm_failure(stage: str, error: BaseException) -> str:
    """One line for the user: what failed, and that the deterministic answer is shown."""
    detail = " ".join(str(error).split())[:160] or "no detail"
    return (
        f"The language model failed while {stage} ({type(error).__name__}: {detail}); "
        "answered deterministically."
    )
