"""`neonblue triage ...` and `neonblue route`: unknown event types, learned rules, the router."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import anyio
import typer
from rich.table import Table

from infrastructure.cli.console import agent_servers, console, services, shown

app = typer.Typer(
    help="Event types ingest did not know, and the rules that classify them.", no_args_is_help=True
)


@app.command("list")
def list_types(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Unknown event types with counts, an example, and any proposed rule."""
    from infrastructure.triage import rule, unclassified_types

    with services() as s:
        found = [(t, rule(s.app, t.event_type)) for t in unclassified_types(s.app)]
    if as_json:
        for summary, existing in found:
            print(
                json.dumps(
                    {
                        "event_type": summary.event_type,
                        "count": summary.count,
                        "example": summary.examples[0],
                        "rule": existing.state if existing else None,
                    }
                )
            )
        return
    table = Table("event type", "count", "rule", "example", title="Unclassified event types")
    for summary, existing in found:
        table.add_row(  # a producer's words: shown as text
            shown(summary.event_type),
            f"{summary.count:,}",
            existing.state if existing else "-",
            shown(json.dumps(summary.examples[0])[:80]),
        )
    console.print(table if found else "No unknown event types: ingest knew every one.")


@app.command()
def propose() -> None:
    """Let the router agent propose rules for every unknown type (recorded, not applied)."""
    from agents.router.runner import route as route_request

    with services() as s:
        state = anyio.run(route_request, s, "triage", agent_servers(s))
    console.print(shown(state["answer"]))


@app.command()
def approve(
    event_type: str,
    by: Annotated[str | None, typer.Option()] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Approve a proposed rule: ingest classifies the type on its fast path from now on."""
    from infrastructure.triage import decide_rule

    with services() as s:
        found = decide_rule(s.app, event_type, True, by or getpass.getuser(), note)
    target = f"metric {found.metric}" if found.action == "metric" else found.action
    console.print(f"'{shown(event_type)}' is now ingested as {shown(target)}.")


@app.command()
def reject(
    event_type: str,
    by: Annotated[str | None, typer.Option()] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Reject a proposed rule: the type stays in triage."""
    from infrastructure.triage import decide_rule

    with services() as s:
        decide_rule(s.app, event_type, False, by or getpass.getuser(), note)
    console.print(f"Rule for '{shown(event_type)}' rejected; the type stays in triage.")


@app.command()
def replay(event_type: str) -> None:
    """Apply an approved rule to the events of that type kept before its approval."""
    from infrastructure.ingest.triage_replay import replay_triaged

    with services() as s:
        outcome = replay_triaged(s.app, event_type)
    console.print(
        f"'{shown(event_type)}': {outcome.recorded} recorded, {outcome.duplicates} already "
        f"recorded, {len(outcome.rejected)} rejected"
        + (f" (first: {shown(outcome.rejected[0][1])})" if outcome.rejected else "")
        + "."
    )


@app.command("rules")
def list_rules() -> None:
    """Learned rules and their state."""
    from infrastructure.triage import rules

    with services() as s:
        found = rules(s.app)
    table = Table("event type", "action", "metric", "state", "decided by", "reasoning")
    for r in found:
        cells = (r.event_type, r.action, r.metric or "", r.state, r.decided_by or "", r.reasoning)
        table.add_row(*(shown(cell) for cell in cells))  # the reasoning may be a model's
    console.print(table if found else "No learned rules yet: neonblue triage propose")


def route(
    request: Annotated[
        str, typer.Argument(help="A question, an experiment key, an event's JSON, or 'triage'.")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send a request through the router agent."""
    from agents.router.runner import route as route_request

    with services() as s:
        state = anyio.run(route_request, s, request, agent_servers(s))
    if as_json:
        print(
            json.dumps(
                {
                    k: state.get(k)
                    for k in ("request", "kind", "classification", "proposals", "answer")
                },
                default=str,
            )
        )
        return
    console.print(f"[dim]{shown(state['kind'])}[/] {shown(state['answer'])}")
