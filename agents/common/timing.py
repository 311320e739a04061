"""Time helpers for graphs (wall clock in UTC; freezegun-friendly)."""

from __future__ import annotations

from datetime import UTC, datetime


def days_since(iso_timestamp: str) -> float:
    started = datetime.fromisoformat(iso_timestamp.replace("Z", "+00:00"))
    return max((datetime.now(UTC) - started).total_seconds() / 86400, 0.0)
