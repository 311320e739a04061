"""Rebuilds a domain Scorecard from an MCP answer, so the policy runs on tool output."""

from __future__ import annotations

import math
from typing import Any

from domain.analysis import MetricRow, Scorecard
from domain.statistics import GuardrailResult, SrmResult


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def scorecard_from_answer(experiment_key: str, scorecard: dict[str, Any]) -> Scorecard:
    srm = scorecard["srm"]
    rows = []
    for r in scorecard["results"]:
        guardrail = None
        if r.get("guardrail_status"):
            guardrail = GuardrailResult(
                _num(r["relative_lift"]),
                _num(r["std_error"]),
                _num(r.get("guardrail_margin")),
                _num(r.get("guardrail_p_value")),
                math.nan,
                r["guardrail_status"],
            )
        rows.append(
            MetricRow(
                metric=r["metric"],
                role=r["role"],
                kind="",
                variant=r["variant"],
                control_mean=_num(r["control_mean"]),
                variant_mean=_num(r["variant_mean"]),
                lift=_num(r["relative_lift"]),
                std_error=_num(r["std_error"]),
                ci_lower=_num(r["ci_lower"]),
                ci_upper=_num(r["ci_upper"]),
                p_value=r["p_value"],
                adjusted_p_value=r["adjusted_p_value"],
                chance_to_beat_control=r.get("chance_to_beat_control"),
                significant=r["significant"],
                direction=r["direction"],
                guardrail=guardrail,
                error=r["error"],
            )
        )
    observed = srm["observed"]
    return Scorecard(
        experiment_key=experiment_key,
        engine=scorecard["engine"],
        control=scorecard["control"],
        users=dict(observed),
        srm=SrmResult(
            math.nan,
            max(len(observed) - 1, 0),
            _num(srm["p_value"]),
            tuple(srm["expected"].values()),
            srm["mismatch"],
        ),
        rows=rows,
        alpha=scorecard["alpha"],
    )
