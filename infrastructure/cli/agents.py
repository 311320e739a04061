"""`neonblue recommend` and `neonblue approvals ...`: the experiment-intelligence agent."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from infrastructure.cli.console import (
    console,
    error_console,
    print_demo_data_hint,
    printable,
    read_side,
    services,
    shown,
    working,
)
from infrastructure.cli.tables import whole_rows
from infrastructure.read_side import dumps

approvals = typer.Typer(
    help="Decide on agent recommendations that change experiments.", no_args_is_help=True
)


def recommend(
    experiment: Annotated[str, typer.Argument(help="Experiment key.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Analyse an experiment through the MCP servers and recommend what to do."""
    from agents.intelligence.configuration import IntelligenceSettings
    from infrastructure.cli.console import chosen_engine

    engine = IntelligenceSettings().engine or chosen_engine()  # used through serve too
    with read_side() as side, _waiting(as_json):
        state = side.recommend(experiment, engine)
    if as_json:
        print(dumps(state))
        return
    for notice in state.get("notices") or []:
        error_console.print(f"[yellow]{shown(notice)}[/]")
    proposal = state["proposal"]
    console.print(  # the narrative may be a language model's words: shown as text
        f"[bold]{shown(proposal['action'].upper())}[/] {shown(experiment)}: "
        f"{shown(state['narrative'])}"
    )
    if state["waiting_for_approval"]:
        console.print(
            f"Waiting for approval: neonblue approvals approve {state['recommendation_id']} "
            f"(or reject)."
        )


@approvals.command("list")
def list_pending(
    all_states: Annotated[bool, typer.Option("--all", help="Include decided ones.")] = False,
) -> None:
    """Recommendations waiting for a decision."""
    from rich.table import Table

    from infrastructure.recommendations import recommendations

    with services() as s:
        found = recommendations(s.app, None if all_states else "pending")
    table = Table("id", "experiment", "action", "variant", "state", "proposed")
    for r in found:
        table.add_row(
            str(r.id),
            shown(r.experiment_key),
            shown(r.action),
            shown(r.variant or ""),
            r.state,
            r.created_on.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(
        whole_rows(table, "id", "experiment")
        if found
        else "No recommendations waiting for a decision."
    )


def _decide(recommendation_id: str, approved: bool, by: str | None, note: str) -> None:
    import anyio

    from agents.intelligence.runner import resume_with_decision

    doing = "Resuming the agent run and applying..." if approved else "Recording the rejection..."
    with services() as s, working(doing):
        state = anyio.run(
            resume_with_decision, s, recommendation_id, approved, by or getpass.getuser(), note
        )
    if approved:
        console.print(
            f"Approved and applied: {shown(', '.join(state.get('applied') or []) or 'nothing')}."
        )
    else:
        console.print("Rejected; nothing was changed.")


@approvals.command()
def approve(
    recommendation_id: str,
    by: Annotated[str | None, typer.Option(help="Who approves (default: your user name).")] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Approve a recommendation; the agent run resumes and carries it out."""
    _decide(recommendation_id, True, by, note)


@approvals.command()
def reject(
    recommendation_id: str,
    by: Annotated[str | None, typer.Option(help="Who rejects (default: your user name).")] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Reject a recommendation; the agent run ends without changing anything."""
    _decide(recommendation_id, False, by, note)


def _waiting(quiet: bool) -> Any:
    """A spinner on stderr while the agents gather, analyse and (LLM mode) write."""
    from agents.common.llm import LlmSettings

    settings = LlmSettings()
    if settings.enabled:
        message = (
            f"Asking the language model (up to {settings.timeout_seconds:.0f} s per request)..."
        )
    else:
        message = "Gathering from the MCP servers and analysing..."
    return working(message, quiet)


def ask(
    question: Annotated[str, typer.Argument(help="A question about your experiments.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    conversation: Annotated[
        str,
        typer.Option(
            "--conversation", "-c", help="Conversation id: follow-ups refine its last question."
        ),
    ] = "cli",
    new: Annotated[bool, typer.Option("--new", help="Start the conversation afresh.")] = False,
) -> None:
    """Answer a natural-language question from the read models (through the MCP servers)."""
    if new:
        from infrastructure.conversations import ConversationStore
        from infrastructure.settings import EventStoreSettings

        ConversationStore(EventStoreSettings().data_dir / "conversations").forget(conversation)
    from infrastructure.cli.console import chosen_engine

    engine = chosen_engine()  # the user's choice, used through serve too
    with read_side() as side, _waiting(as_json):
        state = side.ask(question, conversation, engine)
    if as_json:
        print(dumps(state))
        return
    for notice in state.get("notices") or []:
        error_console.print(f"[yellow]{shown(notice)}[/]")
    console.print(printable(state["answer"]), markup=False, highlight=False)
    if not state.get("answered"):
        print_demo_data_hint()
    used = sorted({f"{c['server']}.{c['tool']}" for c in state.get("sources") or []})
    if used:
        console.print(f"[dim]Sources: {shown(', '.join(used))}[/]")


@approvals.command()
def show(recommendation_id: str) -> None:
    """Inspect a recommendation: reasons, numbers, tool calls, positions and its run's state."""
    import anyio

    from agents.intelligence.runner import inspect_run

    with services() as s:
        details = anyio.run(inspect_run, s, recommendation_id)
    console.print_json(data=details)
