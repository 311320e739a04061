"""How fresh an answer is: the read-model position it was computed at, and its lag."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field


class Freshness(BaseModel):
    """Attached to every tool answer so clients know what the numbers reflect."""

    source: str = Field(description="Where the answer came from, e.g. event_store, clickhouse.")
    position: int = Field(description="Last event-log position reflected in the answer.")
    head: int = Field(description="Newest event-log position when the answer was computed.")
    lag_events: int = Field(description="Events not yet reflected (head - position).")
    computed_at: datetime

    @classmethod
    def of(cls, source: str, position: int, head: int) -> Freshness:
        return cls(
            source=source,
            position=position,
            head=head,
            lag_events=max(head - position, 0),
            computed_at=datetime.now(UTC),
        )
