"""Answer sections that each need one kind of tool answer: durations, assignments,
histories, similar experiments, segments and forecasts."""

from __future__ import annotations

import math
from typing import Any

from agents.analytics.executor import DEFAULT_HORIZON, Gathered
from agents.analytics.plan import QueryPlan
from agents.analytics.writer import Writer, pct
from agents.common.verify import FRACTION
from domain.statistics.corrections import benjamini_hochberg
from domain.statistics.power import predictive_power

TARGET_POWER = 0.8
ALPHA = 0.05  # of the segment ranking's false discovery rate
MAX_DAYS = 365


def days_to_power(z_now: float, elapsed: float, alpha: float) -> float | None:
    """Total days at which predictive power reaches 80% at current traffic (None: > a year)."""
    for days in range(max(math.ceil(elapsed) + 1, 2), MAX_DAYS + 1):
        if predictive_power(z_now, elapsed / days, alpha) >= TARGET_POWER:
            return float(days)
    return None


def duration_section(w: Writer, key: str, analysis: dict[str, Any]) -> None:
    card = analysis["scorecard"]
    rows = [
        r
        for r in card["results"]
        if r["role"] == "primary" and r["relative_lift"] is not None and r["std_error"]
    ]
    elapsed = card.get("days_observed") or 0.0
    if not rows or elapsed <= 0:
        w.unanswered.append(f"{key} has no primary result yet to project a duration from")
        return
    row = max(rows, key=lambda r: r["relative_lift"])
    if row["significant"]:
        w.parts.append(
            f"{key}: {row['variant']} is already significant on {row['metric']} after "
            f"{elapsed:.0f} days; no more days are needed for significance."
        )
        return
    z_now = row["relative_lift"] / row["std_error"]
    needed = days_to_power(z_now, max(elapsed, 1.0), card["alpha"])
    w.fact(f"{key} days observed", elapsed, "days")
    w.fact(f"{key} z", z_now, "")
    if needed is None:
        w.parts.append(
            f"Duration for {key}: {row['variant']} on {row['metric']} ({pct(row['relative_lift'])}, "
            f"z={z_now:.2f} after {elapsed:.0f} days) would not reach an 80% chance of "
            f"significance within {MAX_DAYS} days at current traffic; the effect may be too "
            "small to detect."
        )
        return
    w.fact(f"{key} days needed", needed, "days")
    w.fact(f"{key} more days", needed - elapsed, "days")
    w.parts.append(
        f"Duration for {key}: about {needed:.0f} days in total ({needed - elapsed:.0f} more after "
        f"{elapsed:.0f}) give an 80% chance of significance for {row['variant']} on "
        f"{row['metric']} at current traffic ({pct(row['relative_lift'])}, z={z_now:.2f}; "
        "predictive power)."
    )


def assignments_section(w: Writer, plan: QueryPlan, found: Gathered) -> None:
    if not plan.user_ids:
        w.unanswered.append(
            "which user? Ask e.g. 'which variant does user u-42 get in checkout-cta-contrast?'"
        )
        return
    for answer in found.assignments:
        user, key = answer["user_id"], answer["experiment_id"]
        if answer["variant"] is None:
            w.parts.append(f"User {user} is not in {key}: {answer['reason']}.")
            continue
        low, high = answer["bucket_range"]
        w.fact(f"{user} hash", answer["hash_value"], "")
        w.parts.append(
            f"User {user} gets {w.variant(key, answer['variant'])} in {key}: hash "
            f"v{answer['hash_version']} = {answer['hash_value']:.4f}, inside [{low:.2f}, {high:.2f})."
        )


def history_section(w: Writer, key: str, history: dict[str, Any]) -> None:
    steps = []
    for event in history["events"]:
        at = (event.get("occurred_at") or event["recorded_at"])[:16].replace("T", " ")
        steps.append(f"{event['event'].split('.')[-1]} at {at}")
    status = history["state"]["status"] if history.get("state") else "unknown"
    w.parts.append(f"History of {key}: {'; '.join(steps)}. Now {status}.")


def _hit(w: Writer, hit: dict[str, Any]) -> str:
    lift = hit.get("lift")
    w.fact(f"{hit['key']} lift", lift, FRACTION)
    state = hit.get("outcome") if hit.get("outcome") not in (None, "none") else hit.get("status")
    shown = f", primary lift {pct(lift)}" if lift is not None else ""
    return f"{w.name(hit['key'])} ({state}{shown})"


def similar_section(w: Writer, plan: QueryPlan, found: Gathered) -> None:
    about = plan.description or plan.question
    hits = (found.similar or {}).get("results", [])
    threshold = (
        f" with a primary lift of at least {pct(plan.min_lift)}"
        if plan.min_lift is not None
        else ""
    )
    if hits:
        w.parts.append(
            f"Experiments nearest to '{about}'{threshold}: {', '.join(_hit(w, h) for h in hits)}."
        )
        return
    if found.similar is None:
        return
    nearest = (found.similar_unfiltered or {}).get("results", [])
    text = f"No experiment similar to '{about}' matches{threshold or ' the filters'}."
    if nearest:
        text += f" Nearest without that filter: {', '.join(_hit(w, h) for h in nearest)}."
    w.parts.append(text)


def _segment_rows(plan: QueryPlan, answers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [r for a in answers.values() for r in a.get("segments", [])]
    if plan.segments:
        rows = [r for r in rows if r["segment"] in plan.segments.get(r["dimension"], [])]
    return [r for r in rows if r["relative_lift"] is not None]


def _segment_text(w: Writer, row: dict[str, Any]) -> str:
    key = row["experiment_id"]
    w.fact(
        f"{key} {row['dimension']} {row['segment']} {row['variant']} lift",
        row["relative_lift"],
        FRACTION,
    )
    where = f"{key} {row['dimension']} {row['segment']} {row['variant']}"
    w.fact(f"{where} ci_lower", row["ci_lower"], FRACTION)
    w.fact(f"{where} ci_upper", row["ci_upper"], FRACTION)
    w.fact(f"{where} users", row["users"], "count")
    return (
        f"{row['dimension']} {row['segment']} in {key} ({row['variant']}, {row['metric']}): "
        f"{pct(row['relative_lift'])} [{pct(row['ci_lower'])}, {pct(row['ci_upper'])}] on "
        f"{row['users']:,} users"
    )


def segments_section(w: Writer, plan: QueryPlan, found: Gathered) -> None:
    rows = sorted(_segment_rows(plan, found.segments), key=lambda r: -r["relative_lift"])
    wanted = ", ".join(f"{d} {'/'.join(v)}" for d, v in plan.segments.items())
    if not rows:
        scope = ", ".join(plan.tags) + " experiments" if plan.tags else "experiments in scope"
        if not found.segments and plan.time_range is not None:
            text = f"No {scope} started {plan.time_range.phrase} ({plan.time_range.describe()})."
        else:
            text = f"No segment data for {wanted or scope}."
        nearest = sorted(
            _segment_rows(plan, found.segments_unfiltered or found.segments),
            key=lambda r: -r["relative_lift"],
        )[:3]
        if nearest:
            starts = {
                k: w.vocabulary.entry(k).started_at
                for k in found.segments_unfiltered or found.segments
            }
            when = ", ".join(f"{k} started {d}" for k, d in starts.items() if d)
            text += f" Nearest ({when}): " + "; ".join(_segment_text(w, r) for r in nearest) + "."
        w.parts.append(text)
        return
    if plan.segments:
        w.parts.append(
            f"Segment {wanted}: " + "; ".join(_segment_text(w, r) for r in rows[:6]) + "."
        )
        return
    best, worst = rows[:3], rows[-1]
    text = "Best-responding segments: " + "; ".join(_segment_text(w, r) for r in best)
    text += f". Weakest: {_segment_text(w, worst)}"
    text += (
        f". Across {len(rows)} segment rows of {', '.join(sorted({r['dimension'] for r in rows}))}"
    )
    text += f"; wide intervals mean few users per segment. {_beyond_chance(w, rows)}"
    w.parts.append(text)


def _beyond_chance(w: Writer, rows: list[dict[str, Any]]) -> str:
    """How many of the ranked rows differ from control once the ranking's many comparisons
    are accounted for (Benjamini-Hochberg across them): the best of many segments looks good
    by chance alone."""
    p_values = [math.nan if r.get("p_value") is None else r["p_value"] for r in rows]
    q_values = benjamini_hochberg(p_values)
    kept = [r for r, q in zip(rows, q_values, strict=True) if q < ALPHA]
    w.fact("segment rows compared", len(rows), "count")
    w.fact("segment rows beyond chance", len(kept), "count")
    if not kept:
        return (
            f"After correcting for the {len(rows)} comparisons (Benjamini-Hochberg), none "
            "differs from control beyond chance."
        )
    named = ", ".join(f"{r['dimension']} {r['segment']} in {r['experiment_id']}" for r in kept[:3])
    more = f" and {len(kept) - 3} more" if len(kept) > 3 else ""
    return (
        f"After correcting for the {len(rows)} comparisons (Benjamini-Hochberg), "
        f"{len(kept)} {'differs' if len(kept) == 1 else 'differ'} from control: {named}{more}."
    )


def trend_section(w: Writer, plan: QueryPlan, key: str, trend: dict[str, Any]) -> None:
    days = plan.horizon_days or DEFAULT_HORIZON
    said = "" if plan.horizon_days else " (no horizon asked: 7 days)"
    w.fact(f"{key} horizon", days, "days")
    pieces = []
    for variant in trend.get("variants", []):
        if not variant.get("forecast"):
            pieces.append(f"{variant['variant']}: {variant['summary']}")
            continue
        end, low, high = variant["forecast"][-1], variant["lower"][-1], variant["upper"][-1]
        w.fact(f"{key} {variant['variant']} forecast", end, FRACTION)
        w.fact(f"{key} {variant['variant']} forecast lower", low, FRACTION)
        w.fact(f"{key} {variant['variant']} forecast upper", high, FRACTION)
        w.fact(
            f"{key} {variant['variant']} predictive power",
            variant.get("predictive_power"),
            FRACTION,
        )
        power = variant.get("predictive_power")
        chance = (
            f"; chance of significance by day {trend['planned_days']:.0f}: {pct(power, sign=False)}"
            if power is not None
            else ""
        )
        pieces.append(
            f"{w.variant(key, variant['variant'])} cumulative {trend['metric']} lift in {days} days: "
            f"{pct(end)} [{pct(low)}, {pct(high)}]{chance}"
        )
    w.parts.append(
        f"Forecast for {key} over the next {days} days{said}: " + "; ".join(pieces) + "."
    )
