"""What to do with an experiment, decided from its scorecard. Pure and deterministic.

The order of checks follows how experimentation teams triage: broken data first (SRM),
then harm (guardrails, a significantly worse primary), then a winner, then whether the
test can still reach a conclusion in time (predictive power). A stopped experiment
collects nothing more: the same findings become how to conclude it (ship, roll back,
inconclusive), never "stop" or "keep running".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from domain.analysis import MetricRow, Scorecard
from domain.intelligence.track_record import TrackRecord
from domain.statistics import predictive_power


class Action(StrEnum):
    FIX_SRM = "fix_srm"  # pause: assignment is broken, results cannot be trusted
    STOP = "stop"  # harm detected: stop and roll back
    SHIP = "ship"  # a clear, safe winner: stop and conclude with it
    EXTEND = "extend"  # under-powered: keep running longer / with more traffic
    CONTINUE = "continue"  # on track: nothing to do yet
    REALLOCATE = "reallocate"  # move traffic towards better arms (bandit)
    ROLL_BACK = "roll_back"  # stopped after harm: conclude as rolled back
    CONCLUDE = "conclude"  # stopped without a trustworthy winner: conclude as inconclusive


CHANGES_EXPERIMENT = {
    Action.FIX_SRM,
    Action.STOP,
    Action.SHIP,
    Action.REALLOCATE,
    Action.ROLL_BACK,
    Action.CONCLUDE,
}


@dataclass(frozen=True)
class Proposal:
    """A recommendation with the reasons and numbers behind it."""

    action: Action
    variant: str | None
    reasons: list[str]
    numbers: dict[str, float] = field(default_factory=dict)

    @property
    def needs_approval(self) -> bool:
        return self.action in CHANGES_EXPERIMENT


@dataclass(frozen=True)
class Timing:
    days_running: float
    planned_days: float = 28.0


def recommend(
    card: Scorecard, timing: Timing, status: str = "running", record: TrackRecord | None = None
) -> Proposal:
    """The recommendation for one experiment given its scorecard (sequential or fixed);
    with the ``record`` of past forecasts, forecasting proposals say how good they were."""
    proposal = _recommend(card, timing, status)
    statement = record.statement() if record is not None else ""
    if statement and {"predictive_power", "ci_lower"} & set(proposal.numbers):
        return replace(proposal, reasons=[*proposal.reasons, statement])
    return proposal


def _recommend(card: Scorecard, timing: Timing, status: str) -> Proposal:
    if status in ("draft", "concluded"):
        return Proposal(
            Action.CONTINUE, None, [f"The experiment is {status}; there is nothing to decide."]
        )
    if status == "stopped":
        return _conclusion(card)
    if card.srm.mismatch:
        return Proposal(
            Action.FIX_SRM,
            None,
            [
                f"Sample ratio mismatch: {_split(card)} "
                f"(chi-square p={card.srm.p_value:.2g} < 0.001). Assignment or logging is "
                "broken; pause, find the cause, and restart before reading any result."
            ],
            {"srm_p_value": card.srm.p_value, "users": float(card.total_users)},
        )
    failing = card.failing_guardrails()
    if failing:
        worst = failing[0]
        return Proposal(
            Action.STOP,
            worst.variant,
            [
                f"Guardrail {worst.metric} is significantly worse in {worst.variant}: "
                f"{_pct(worst.lift)}, failing its non-inferiority test{_margin(worst)}. "
                "Stop the experiment and roll back."
            ],
            {"lift": worst.lift, "ci_lower": worst.ci_lower, "ci_upper": worst.ci_upper},
        )
    primary = [r for r in card.primary() if not r.error]
    worse = [r for r in primary if r.direction == "worse"]
    if worse:
        row = worse[0]
        return Proposal(
            Action.STOP,
            row.variant,
            [
                f"Primary metric {row.metric} is significantly worse in {row.variant}: "
                f"{_pct(row.lift)} ({_evidence(row)}). Stop and roll back."
            ],
            _numbers(row),
        )
    better = sorted((r for r in primary if r.direction == "better"), key=lambda r: -r.lift)
    if better:
        row = better[0]
        return Proposal(
            Action.SHIP,
            row.variant,
            [
                f"{row.variant} improves {row.metric} by {_pct(row.lift)} "
                f"[{_pct(row.ci_lower)}, {_pct(row.ci_upper)}] ({_evidence(row)}, "
                f"{card.engine}) with no failing guardrail. "
                "Stop and ship it."
            ],
            _numbers(row),
        )
    return _power_check(card, primary, timing)


def _evidence(row: MetricRow) -> str:
    """The row's adjusted p-value, or (Bayesian engine) its chance to beat control."""
    if row.adjusted_p_value is not None:
        return f"adjusted p={row.adjusted_p_value:.3g}"
    chance = row.chance_to_beat_control
    if chance is None or math.isnan(chance):
        return "no p-value"
    shown = "> 99.9%" if chance > 0.999 else "< 0.1%" if chance < 0.001 else f"{chance:.1%}"
    return f"chance to beat control {shown}"


def _conclusion(card: Scorecard) -> Proposal:
    """How to conclude a stopped experiment, from the same findings in the same order."""
    stopped = "The experiment is stopped"
    if card.srm.mismatch:
        return Proposal(
            Action.CONCLUDE,
            None,
            [
                f"{stopped}, and its traffic split does not match the weights (sample ratio "
                f"mismatch, chi-square p={card.srm.p_value:.2g}): its results cannot be trusted. "
                "Conclude it as inconclusive, fix assignment or logging, and run it again."
            ],
            {"srm_p_value": card.srm.p_value, "users": float(card.total_users)},
        )
    failing = card.failing_guardrails()
    primary = [r for r in card.primary() if not r.error]
    worse = [r for r in primary if r.direction == "worse"]
    if failing or worse:
        row = failing[0] if failing else worse[0]
        what = (
            f"Guardrail {row.metric} is significantly worse in {row.variant}: {_pct(row.lift)}"
            f"{_margin(row)}"
            if failing
            else f"Primary metric {row.metric} is significantly worse in {row.variant}: "
            f"{_pct(row.lift)}"
        )
        return Proposal(
            Action.ROLL_BACK,
            row.variant,
            [f"{stopped}. {what}. Conclude it as rolled back: keep control for everyone."],
            _numbers(row),
        )
    better = sorted((r for r in primary if r.direction == "better"), key=lambda r: -r.lift)
    if better:
        row = better[0]
        return Proposal(
            Action.SHIP,
            row.variant,
            [
                f"{stopped}; {row.variant} improves {row.metric} by {_pct(row.lift)} "
                f"[{_pct(row.ci_lower)}, {_pct(row.ci_upper)}] ({card.engine}) with no failing "
                "guardrail. Conclude it shipping this variant."
            ],
            _numbers(row),
        )
    return Proposal(
        Action.CONCLUDE,
        None,
        [
            f"{stopped} without a significant difference on its primary metric "
            f"({card.engine}). Conclude it as inconclusive and keep control."
        ],
        _numbers(primary[0]) if primary else {},
    )


def _power_check(card: Scorecard, primary: list[MetricRow], timing: Timing) -> Proposal:
    """Predictive power at the planned end decides between CONTINUE and EXTEND.

    Predictive power averages over the uncertainty of the current estimate, so a lucky
    early lift on few users does not read as "on track" (conditional power would).
    """
    if not primary:
        return Proposal(Action.CONTINUE, None, ["No primary results yet; keep collecting data."])
    row = max(primary, key=lambda r: abs(r.lift) if math.isfinite(r.lift) else -1)
    z_now = row.lift / row.std_error if row.std_error > 0 else math.nan
    elapsed = max(timing.days_running, 1.0)
    power = predictive_power(z_now, min(elapsed / timing.planned_days, 1.0), card.alpha)
    numbers = {
        **_numbers(row),
        "predictive_power": power,
        "z": z_now,
        "days_running": timing.days_running,
        "planned_days": timing.planned_days,
    }
    if math.isfinite(power) and power >= 0.8:
        return Proposal(
            Action.CONTINUE,
            None,
            [
                f"Not yet significant under the {card.engine} test; the chance of reaching "
                f"significance by day {timing.planned_days:.0f} is {power:.0%} (current lift "
                f"{_pct(row.lift)}, z={z_now:.2f}). Keep running."
            ],
            numbers,
        )
    needed = _days_for_power(z_now, elapsed, card.alpha)
    if needed is not None:
        numbers["days_needed"] = needed
        extra = f" About {needed:.0f} days in total would give an 80% chance at current traffic."
    else:
        extra = " The evidence so far is too weak for any practical duration to settle it."
    return Proposal(
        Action.EXTEND,
        None,
        [
            f"Under-powered: the chance of reaching significance by day "
            f"{timing.planned_days:.0f} is only {_pct(power, sign=False)} (current lift {_pct(row.lift)}, z={z_now:.2f}, "
            f"{card.total_users:,} users so far).{extra} Extend the test or raise its traffic "
            "coverage; do not ship on this evidence."
        ],
        numbers,
    )


def _days_for_power(z_now: float, elapsed: float, alpha: float) -> float | None:
    """Planned duration at which predictive power reaches 80% (None if over a year)."""
    for days in (14, 21, 28, 42, 56, 84, 112, 168, 252, 365):
        if days > elapsed and predictive_power(z_now, elapsed / days, alpha) >= 0.8:
            return float(days)
    return None


def _margin(row: MetricRow) -> str:
    margin = row.guardrail.margin if row.guardrail is not None else math.nan
    return f" (margin {margin:.0%})" if math.isfinite(margin) else ""


def _numbers(row: MetricRow) -> dict[str, float]:
    numbers = {"lift": row.lift, "ci_lower": row.ci_lower, "ci_upper": row.ci_upper}
    if row.adjusted_p_value is not None:
        numbers["adjusted_p_value"] = row.adjusted_p_value
    return numbers


def _split(card: Scorecard) -> str:
    """Observed users per variant against the split the weights expect, e.g.
    "control 4,034 (53.2%), treatment 3,548 (46.8%); expected 50.0% / 50.0%"."""
    total = sum(card.users.values()) or 1
    observed = ", ".join(f"{k} {n:,} ({n / total:.1%})" for k, n in card.users.items())
    expected = " / ".join(f"{e / total:.1%}" for e in card.srm.expected)
    return f"{observed}; expected {expected}" if expected else observed


def _pct(value: float, sign: bool = True) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.1%}" if sign else f"{value:.0%}"
