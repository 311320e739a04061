"""Prometheus metrics of `serve`: projection positions and lag, events projected, MCP tool
calls and their latency, errors. One registry per serve (no global state)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from infrastructure.serve.follower import FollowerMetrics, ProjectionFollower

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.follower = FollowerMetrics(
            position=Gauge(
                "neonblue_projection_position",
                "Last log position stored",
                ["projection"],
                registry=r,
            ),
            events=Counter(
                "neonblue_projection_events", "Log positions projected", ["projection"], registry=r
            ),
            errors=Counter(
                "neonblue_projection_errors",
                "Failed projection batches",
                ["projection"],
                registry=r,
            ),
            head=Gauge("neonblue_log_head", "Newest position of the event log", registry=r),
        )
        self.lag = Gauge(
            "neonblue_projection_lag_events", "Events not yet projected", ["projection"], registry=r
        )
        self.tool_calls = Counter(
            "neonblue_mcp_tool_calls",
            "MCP tool calls by outcome",
            ["server", "tool", "outcome"],
            registry=r,
        )
        self.tool_seconds = Histogram(
            "neonblue_mcp_tool_seconds",
            "MCP tool call latency",
            ["server", "tool"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_calls = Counter(
            "neonblue_api_requests", "API requests by outcome", ["endpoint", "outcome"], registry=r
        )

    def render(self, follower: ProjectionFollower) -> bytes:
        for status in follower.statuses():
            self.lag.labels(status.name).set(status.lag_events)
            self.follower.position.labels(status.name).set(status.position)  # type: ignore[union-attr]
        return generate_latest(self.registry)

    def tool_middleware(self, server: str, tools: set[str]) -> Callable[..., Any]:
        """An MCP server middleware timing ``tools/call`` requests (names outside ``tools``
        are counted as "unknown": clients cannot add label values)."""

        async def observe(ctx: Any, call_next: Callable[[Any], Any]) -> Any:
            if ctx.method != "tools/call":
                return await call_next(ctx)
            tool = str((ctx.params or {}).get("name"))
            tool = tool if tool in tools else "unknown"
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await call_next(ctx)
                failed = result.get("isError") if isinstance(result, dict) else False
                outcome = "error" if failed else "ok"
                return result
            finally:
                self.tool_seconds.labels(server, tool).observe(time.perf_counter() - started)
                self.tool_calls.labels(server, tool, outcome).inc()

        return observe
