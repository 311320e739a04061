"""Prompts and templates. Numbers always come from tools; the model only writes prose."""

from __future__ import annotations

from typing import Any

NARRATIVE_SYSTEM = (
    "You are NeonBlue's experiment analyst. Write a short recommendation (3-5 sentences) for "
    "a product team. Use ONLY the numbers given in the JSON; never invent or recompute numbers. "
    "Name the action, the variant if any, and the evidence."
)

ACTION_TITLES = {
    "fix_srm": "Pause and fix the sample ratio mismatch",
    "stop": "Stop the experiment and roll back",
    "ship": "Ship the winning variant",
    "extend": "Extend the experiment",
    "continue": "Keep the experiment running",
    "reallocate": "Reallocate traffic",
    "roll_back": "Conclude the stopped experiment as rolled back",
    "conclude": "Conclude the stopped experiment as inconclusive",
}

APPROVAL_NOTES = {
    "stopped": "This concludes the stopped experiment and waits for a person's approval.",
    "paused": "This changes a paused experiment and waits for a person's approval.",
}


def templated_narrative(
    experiment_key: str,
    proposal: dict[str, Any],
    similar: list[dict[str, Any]],
    status: str = "running",
) -> str:
    title = ACTION_TITLES.get(proposal["action"], proposal["action"])
    if proposal["action"] == "continue" and status in ("draft", "concluded"):
        title = "No action needed"
    lines = [
        f"{title} ({experiment_key}{', ' + proposal['variant'] if proposal.get('variant') else ''})."
    ]
    lines += proposal["reasons"]
    if similar:
        names = ", ".join(_similar(hit) for hit in similar[:3])
        lines.append(f"Similar experiments: {names}.")
    if proposal["needs_approval"]:
        lines.append(
            APPROVAL_NOTES.get(
                status, "This changes a running experiment and waits for a person's approval."
            )
        )
    return " ".join(lines)


def _similar(hit: dict[str, Any]) -> str:
    """``key (concluded: ship)`` or ``key (running)``: a running one is no precedent yet."""
    status, outcome = hit.get("status") or "", hit.get("outcome") or ""
    state = f"{status}: {outcome}" if status == "concluded" and outcome else status
    return f"{hit['key']} ({state})" if state else str(hit["key"])
