"""`neonblue experiments ...` and `neonblue assign`."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.experiments.aggregate import Experiment
from infrastructure.cli.console import console, print_demo_data_hint, services, shown
from infrastructure.cli.parsing import (
    metric_of,
    namespace_of,
    parse_namespace,
    parse_variant,
    read_spec,
    variant_of,
)
from infrastructure.cli.tables import whole_rows
from mcp_servers.common.models import ExperimentOut

app = typer.Typer(
    help="Create experiments and move them through their lifecycle.", no_args_is_help=True
)


By = Annotated[
    str | None,
    typer.Option(help="Who makes the change, for `audit history` (default: your user name)."),
]


def _by(by: str | None) -> str:
    """``--by``, or the user name; one line of text (it names a person in the history)."""
    import getpass

    by = (by or "").strip()
    if any(not character.isprintable() for character in by):
        raise typer.BadParameter("--by takes one line of printable text.", param_hint="--by")
    return by or getpass.getuser()


@app.command()
def create(
    key: Annotated[
        str | None,
        typer.Argument(
            help='Unique key, e.g. checkout-cta (default: the --spec file\'s "key"; given '
            "here, it overrides the spec's).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Human-readable name (default: the key).")] = "",
    hypothesis: Annotated[str, typer.Option(help="What you expect and why.")] = "",
    description: Annotated[str, typer.Option()] = "",
    tag: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    owner: Annotated[str, typer.Option()] = "",
    variant: Annotated[
        list[str] | None,
        typer.Option(help="Repeatable: key, key=weight or key:Name=weight."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            help="Repeatable: key:primary|secondary|guardrail:binomial|mean|ratio=num/den."
        ),
    ] = None,
    coverage: Annotated[
        float | None,
        typer.Option(help="Share of traffic included, (0, 1] (default: the spec's, else 1)."),
    ] = None,
    seed: Annotated[
        str | None,
        typer.Option(
            help="Hash seed (default: the spec's, else the key); another seed re-draws which "
            "users get which variant."
        ),
    ] = None,
    hash_version: Annotated[
        int | None, typer.Option(help="GrowthBook hash version, 1 or 2 (default: 2).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="name:start:end for exclusivity.")] = None,
    by: By = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            help="JSON file with the same fields and key (`experiments show --json` prints "
            "one); the key and options given here override it."
        ),
    ] = None,
) -> None:
    """Create a draft experiment (from options, a --spec file, or both)."""
    base: dict[str, Any] = read_spec(spec) if spec is not None else {}
    key = key or base.get("key")
    if not key:
        raise typer.BadParameter(
            'give the experiment\'s key as the KEY argument or as "key" in the --spec file.',
            param_hint="KEY",
        )
    variants = variant or base.get("variants") or []
    metrics = metric or base.get("metrics") or []
    spec_namespace = base.get("namespace")
    with services() as s:
        s.app.create_experiment(
            key,
            name or base.get("name") or key,
            hypothesis=hypothesis or base.get("hypothesis", ""),
            description=description or base.get("description", ""),
            tags=tag or base.get("tags", []),
            owner=owner or base.get("owner", ""),
            variants=[variant_of(v, len(variants)) for v in variants],
            metrics=[metric_of(m) for m in metrics],
            coverage=base.get("coverage", 1.0) if coverage is None else coverage,
            seed=seed or base.get("seed"),
            hash_version=base.get("hash_version", 2) if hash_version is None else hash_version,
            namespace=parse_namespace(namespace)
            if namespace
            else (namespace_of(spec_namespace) if spec_namespace else None),
            by=_by(by),
        )
        console.print(f"Created experiment [bold]{shown(key)}[/] (draft).")


@app.command("list")
def list_experiments(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List experiments with their status."""
    with services() as s:
        experiments = s.app.experiments()
    if as_json:
        console.print_json(data=[_summary(e) for e in experiments])
        return
    table = Table("key", "name", "status", "variants", "owner", "tags", title="Experiments")
    for e in experiments:
        variants = ", ".join(f"{v.key} {v.weight:.0%}" for v in e.variants)
        cells = (e.key, e.name, str(e.status), variants, e.owner, ", ".join(e.tags))
        table.add_row(*(shown(cell) for cell in cells))
    if not experiments:
        console.print("No experiments yet: `neonblue experiments create`.")
        print_demo_data_hint(empty=True)
        return
    console.print(whole_rows(table, "key"))


@app.command()
def show(
    key: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show one experiment's definition and state."""
    with services() as s:
        experiment = s.app.experiment(key)
    if as_json:
        console.print_json(data=_summary(experiment))
        return
    console.print(
        f"[bold]{shown(experiment.name)}[/] ({shown(experiment.key)}) - {experiment.status}"
    )
    for label, value in [
        ("hypothesis", experiment.hypothesis),
        ("description", experiment.description),
        ("owner", experiment.owner),
        ("tags", ", ".join(experiment.tags)),
        ("coverage", f"{experiment.coverage:.0%}"),
        ("seed / hash", f"{experiment.seed} / v{experiment.hash_version}"),
        ("namespace", str(experiment.namespace or "-")),
        ("started", _moment(experiment.started_at)),
        ("stopped", _moment(experiment.stopped_at)),
        ("conclusion", _conclusion(experiment)),
    ]:
        # a second line of a hypothesis or description sits under the first, never where
        # a field's label goes
        console.print(f"  {label:<12} " + shown(value).replace("\n", "\n" + " " * 15))
    variants = Table("variant", "name", "weight")
    for v in experiment.variants:
        variants.add_row(shown(v.key), shown(v.name), f"{v.weight:.2%}")
    metrics = Table("metric", "role", "kind", "details")
    for m in experiment.metrics:
        details = []
        if m.numerator:
            details.append(f"{m.numerator} / {m.denominator}")
        if m.quantile is not None:
            details.append(
                f"p{m.quantile * 100:g}" + (" of users' totals" if m.quantile_per_user else "")
            )
        if not m.higher_is_better:
            details.append("lower is better")
        if m.margin is not None:
            details.append(f"margin {m.margin:.1%}")
        metrics.add_row(shown(m.key), str(m.role), str(m.kind), shown(", ".join(details)))
    console.print(variants, metrics)


def _moment(at: Any) -> str:
    """A recorded time to the second, in UTC (start and stop alike)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


@app.command()
def start(key: str, by: By = None) -> None:
    """Start a draft experiment (needs >= 2 variants summing to 1 and a primary metric)."""
    with services() as s:
        s.app.start_experiment(key, by=_by(by))
    console.print(f"Experiment [bold]{shown(key)}[/] is running.")


@app.command()
def pause(key: str, reason: Annotated[str, typer.Option()] = "", by: By = None) -> None:
    """Pause a running experiment (no new users are enrolled)."""
    with services() as s:
        s.app.pause_experiment(key, reason, by=_by(by))
    console.print(f"Experiment [bold]{shown(key)}[/] is paused.")


@app.command()
def resume(key: str, by: By = None) -> None:
    """Resume a paused experiment."""
    with services() as s:
        s.app.resume_experiment(key, by=_by(by))
    console.print(f"Experiment [bold]{shown(key)}[/] is running again.")


@app.command()
def stop(key: str, reason: Annotated[str, typer.Option()] = "", by: By = None) -> None:
    """Stop collecting data; later metric events are recorded but excluded."""
    with services() as s:
        s.app.stop_experiment(key, reason, by=_by(by))
    console.print(f"Experiment [bold]{shown(key)}[/] is stopped.")


@app.command()
def conclude(
    key: str,
    decision: Annotated[str, typer.Option(help="ship, rollback or inconclusive.")],
    winner: Annotated[str | None, typer.Option(help="Winning variant (needed to ship).")] = None,
    reason: Annotated[str, typer.Option()] = "",
    by: By = None,
) -> None:
    """Record the decision of a stopped experiment (final)."""
    from infrastructure.track_record import score_concluded

    with services() as s:
        s.app.conclude_experiment(key, decision, winner, reason, by=_by(by))
        scored = score_concluded(s.app, key)
    console.print(f"Experiment [bold]{shown(key)}[/] is concluded: {decision}.")
    if scored:
        console.print(f"Scored the forecasts of {len(scored)} recommendation(s) against it.")


@app.command()
def traffic(
    key: str,
    coverage: Annotated[float | None, typer.Option()] = None,
    weight: Annotated[list[str] | None, typer.Option(help="Repeatable: variant=weight.")] = None,
    reason: Annotated[str, typer.Option()] = "",
    by: By = None,
) -> None:
    """Change coverage or variant weights (without either: show them)."""
    weights = {}
    for item in weight or []:
        variant = parse_variant(item, 1)
        weights[variant.key] = variant.weight
    with services() as s:
        before = s.app.experiment(key)
        experiment = s.app.change_traffic(
            key, coverage=coverage, weights=weights, reason=reason, by=_by(by)
        )
    shares = ", ".join(f"{v.key} {v.weight:.0%}" for v in experiment.variants)
    unchanged = " (unchanged)" if experiment.version == before.version else ""
    console.print(
        f"Traffic of [bold]{shown(key)}[/]{unchanged}: coverage {experiment.coverage:.0%}; "
        f"{shown(shares)}."
    )


def assign(
    experiment: Annotated[str, typer.Argument(help="Experiment key.")],
    user: Annotated[str, typer.Argument(help="User id.")],
) -> None:
    """Show which variant a user gets, and why, without recording anything; and the variant
    recorded for them, if any (the client's, when exposures said which it showed)."""
    if not user.strip():
        raise typer.BadParameter(
            "a user id is needed (ids as producers send them).", param_hint="USER"
        )
    with services() as s:
        found = s.app.experiment(experiment)
        subject = s.subject_of(user)
        variant, decision = found.assignment_for(subject)
        participation = s.app.participation(experiment, subject) or (
            s.app.participation(experiment, user)  # stored before protection
        )
    if variant is None:
        console.print(
            f"User [bold]{shown(user)}[/] is not in {shown(experiment)}: {decision.reason}."
        )
    else:
        low, high = decision.bucket_range or (0.0, 0.0)
        console.print(
            f"User [bold]{shown(user)}[/] -> [bold green]{shown(variant)}[/] "
            f"(hash v{found.hash_version} of seed {shown(repr(found.seed))} = "
            f"{decision.hash_value:.4f}, range \\[{low:.4f}, {high:.4f}))"
        )
    if participation is not None and participation.variant != variant:
        why = _RECORDED_BECAUSE.get(str(participation.source), str(participation.source))
        console.print(
            f"Recorded for them: {shown(str(participation.variant or 'no variant'))}, {why}; "
            "the analysis uses the recorded variant."
        )


_RECORDED_BECAUSE = {
    "sdk": "as the client said it showed (SDKs hash the raw id, server-side bucketing the "
    "pseudonym: README, Privacy, Bucketing)",
    "bucketing": "bucketed when first seen, under the weights then (assignments stick)",
    "none": "outside coverage or namespace when first seen",
}


def _conclusion(e: Experiment) -> str:
    if e.conclusion is None:
        return "-"
    winner = f" {e.conclusion.winner}" if e.conclusion.winner else ""
    return f"{e.conclusion.decision}{winner}: {e.conclusion.reason}"


def _summary(e: Experiment) -> dict[str, Any]:
    """The experiment's JSON, with what `create --spec` takes to bucket users the same way
    under another key (its seed, hash version and namespace)."""
    bucketing = {
        "seed": e.seed,
        "hash_version": e.hash_version,
        "namespace": e.namespace.as_dict() if e.namespace else None,
    }
    return ExperimentOut.of(e).model_dump(mode="json") | bucketing
