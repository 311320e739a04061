"""LLM mode: any OpenAI-compatible endpoint through langchain-openai; off by default.

The model plans and writes prose; it never decides or computes. Whatever goes wrong at the
endpoint (HTTP 5xx, a timeout, malformed JSON) the graphs fall back to their deterministic
answer and say so in one line (`llm_failure`). Every call goes through `ask_model`, which
bounds the whole call, not only each read.
"""

from __future__ import annotations

from typing import Any

import anyio
from pydantic import BaseModel, Field
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


def deadline_seconds(llm: Any) -> float:
    """The longest one model call may take in all: the timeout once per try. The client's
    own timeout bounds each read, so a reply trickling in a few bytes at a time would
    otherwise keep a question waiting indefinitely."""
    timeout = getattr(llm, "request_timeout", None)
    default = LlmSettings.model_fields["timeout_seconds"].default
    seconds = float(timeout) if isinstance(timeout, int | float) else default
    return seconds * (1 + int(getattr(llm, "max_retries", None) or 0))


async def ask_model(llm: Any, messages: list[Any], schema: type[BaseModel] | None = None) -> Any:
    """The model's reply to ``messages`` (with ``schema``: parsed by structured output),
    or `TimeoutError` once `deadline_seconds` have passed."""
    runnable = llm.with_structured_output(schema, method="json_schema") if schema else llm
    seconds = deadline_seconds(llm)
    with anyio.move_on_after(seconds):
        return await runnable.ainvoke(messages)
    raise TimeoutError(f"no complete reply within {seconds:g} s")


def llm_failure(stage: str, error: BaseException) -> str:
    """One line for the user: what failed, and that the deterministic answer is shown."""
    detail = " ".join(str(error).split())[:160] or "no detail"
    return (
        f"The language model failed while {stage} ({type(error).__name__}: {detail}); "
        "answered deterministically."
    )
