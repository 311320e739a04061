"""`neonblue audit ...` (verify, checkpoint, replay, history, export, analyses, predictions)
and `report`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.audit import AnalysisSettings
from infrastructure.audit import analyses as recorded
from infrastructure.audit.checkpoints import append_checkpoint, load_checkpoints, new_checkpoint
from infrastructure.audit.errors import TamperDetected
from infrastructure.audit.export import (
    ExportFormatError,
    export_rows,
    read_export,
    write_jsonl,
)
from infrastructure.audit.history import history as experiment_history
from infrastructure.audit.replay import replay as replay_experiment
from infrastructure.audit.verify import VerifyReport, verify_log, verify_notifications
from infrastructure.cli.console import console, services, shown, working
from infrastructure.cli.tables import whole_rows
from infrastructure.settings.audit import AuditSettings

app = typer.Typer(
    help="Audit the event log: verify, replay, history, export.", no_args_is_help=True
)

Engine = Annotated[
    str | None,
    typer.Option(
        help="frequentist, sequential or bayesian (default: NEONBLUE_STATS_ENGINE, as results)."
    ),
]
Alpha = Annotated[float, typer.Option(help="Significance level.")]


def _settings(engine: str | None, alpha: float) -> AnalysisSettings:
    """Checked before anything is computed or recorded (a published record is permanent).
    No ``engine``: the platform's default, as `results` and `report` use it."""
    from infrastructure.read_side import ENGINES
    from infrastructure.settings import StatisticsSettings

    engine = engine or StatisticsSettings().stats_engine
    if engine not in ENGINES:
        raise typer.BadParameter(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if not 0 < alpha < 1:  # also NaN
        raise typer.BadParameter(f"alpha must be between 0 and 1 (e.g. 0.05), not {alpha}")
    return AnalysisSettings(engine=engine, alpha=alpha)  # type: ignore[arg-type]


def parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time, e.g. 2026-05-01T12:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print_report(report: VerifyReport) -> None:
    rate = f"{report.events_per_second:,.0f} events/s"
    checked = f", {report.checkpoints_checked} checkpoint(s)" if report.checkpoints_checked else ""
    start = report.start
    span = (
        f"positions {start.position}-{report.last_position}"
        if start is not None and start.events_before
        else f"up to position {report.last_position}"
    )
    if report.ok:
        console.print(
            f"[green]OK[/] {report.checked} events {span}{checked}; "
            f"running hash {report.running_hash.hex()} ({rate})"
        )
        if start is not None and start.events_before:
            skipped = report.checkpoints_before_start
            console.print(
                f"A partial export: the {start.events_before} events before position "
                f"{start.position} are not in it, so links into them are checked only by "
                "checkpoints after it"
                + (f" ({skipped} checkpoint(s) before it not checked)" if skipped else "")
            )
        _print_coverage(report)
        if report.absent_positions:
            console.print(
                f"{report.absent_positions} position(s) in this range hold no event (the first: "
                f"{report.first_absent}): deleted events, or numbers the store skipped (a "
                "PostgreSQL store skips those of writes rolled back; an SQLite store does not)."
            )
        return
    first = report.first
    console.print(f"[bold red]TAMPERED[/] first problem at {shown(first)}")
    for finding in report.findings[1:20]:
        console.print(f"  also {shown(finding)}")
    console.print(f"{len(report.findings)} problem(s) in {report.checked} events{checked}")


def _print_coverage(report: VerifyReport) -> None:
    """What an OK does not cover: the chains link each stream's events, so the removal of a
    stream's last events (or of a whole stream) shows only against a signed checkpoint."""
    if not report.checkpoints_checked:
        console.print(
            "No checkpoint checked: each stream's chain shows an altered, reordered or deleted "
            "event before its last one, but not the removal of a stream's last events or of "
            "a whole stream. Sign checkpoints regularly (`neonblue audit checkpoint`) and pass "
            "--checkpoints FILE."
        )
    elif report.checkpointed_to < report.last_position:
        console.print(
            f"The events after position {report.checkpointed_to} (the newest checkpoint) are "
            "covered by their streams' chains only: the removal of a stream's last events "
            "among them would not show."
        )


@app.command()
def verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Signed checkpoint file to check (NEONBLUE_AUDIT_KEY; default for the store: "
            "the one `audit checkpoint` writes, when it exists)."
        ),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Verify this `audit export` file instead of the store.")
    ] = None,
) -> None:
    """Walk the log; report the first altered, deleted or reordered event with its position."""
    settings = AuditSettings()
    if checkpoints is None and export is None and settings.checkpoint_file.exists():
        checkpoints = settings.checkpoint_file  # the store's own, as `audit checkpoint` wrote it
        if not settings.audit_key.get_secret_value():
            checkpoints = None
            console.print(
                f"The checkpoints in {shown(str(settings.checkpoint_file))} are not checked: "
                "set NEONBLUE_AUDIT_KEY to the key that signed them."
            )
    signed = load_checkpoints(checkpoints, settings.key()) if checkpoints else []
    if export is not None:
        with export.open(encoding="utf-8") as lines:
            try:
                exported = read_export(lines)
                report = verify_notifications(exported.notifications, signed, exported.start)
                report.findings.extend(exported.findings)
            except ExportFormatError as error:
                raise typer.BadParameter(str(error), param_hint="--export") from None
        if not report.checked:
            console.print(f"[bold red]Nothing verified[/]: {shown(str(export))} holds no events")
            raise typer.Exit(1)
    else:
        with services() as s:
            report = verify_log(s.app.recorder, signed)
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(
    out: Annotated[Path | None, typer.Option(help="Checkpoint file to append to.")] = None,
) -> None:
    """Verify the log, then append an HMAC-signed checkpoint of its running hash."""
    settings = AuditSettings()
    key, path = settings.key(), out or settings.checkpoint_file
    existing = load_checkpoints(path, key) if path.exists() else []
    with services() as s:
        report = verify_log(s.app.recorder, existing)
    if not report.ok:
        _print_report(report)
        raise TamperDetected("The log fails verification; refusing to sign a checkpoint of it.")
    signed = new_checkpoint(
        report.last_position, report.events, report.running_hash, datetime.now(UTC), key
    )
    append_checkpoint(path, signed)
    console.print(
        f"Checkpoint at position {signed.position} ({signed.count} events) appended to "
        f"{shown(path)}"
    )


@app.command()
def replay(
    experiment: str,
    as_of: Annotated[
        str | None,
        typer.Option(help="ISO time, recording time: what the platform knew then."),
    ] = None,
    occurred_by: Annotated[
        str | None,
        typer.Option(help="ISO time, event time: what had happened by then."),
    ] = None,
    position: Annotated[int | None, typer.Option(help="Last log position to include.")] = None,
    engine: Engine = None,
    alpha: Alpha = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The experiment as it was at a time: state, assignments, sums and verdict (log only).
    --as-of cuts by recording time, --occurred-by by event time; both may be given."""
    settings = _settings(engine, alpha)
    when = parse_time(as_of) if as_of else None
    happened = parse_time(occurred_by) if occurred_by else None
    with services() as s:
        state = replay_experiment(s.app, experiment, when, position, settings, happened)
    data = state.as_dict()
    if as_json:
        print(json.dumps(data, default=str))
        return
    console.print(
        f"[bold]{shown(experiment)}[/] {data['cut']} (log position {data['position']}): "
        f"{data['status']}, version {data['version']}, weights {shown(_weights(data))}; "
        f"{settings.engine} engine"
    )
    table = Table("variant", "enrolled", "exposed (users)")
    for variant in data["variants"]:
        table.add_row(
            shown(variant),
            str(data["enrolled"].get(variant, 0)),
            str(data["exposed"].get(variant, 0)),
        )
    console.print(table)
    if state.scorecard is not None:
        from infrastructure.cli.scorecards import scorecard_table

        console.print(scorecard_table(state.scorecard))
        srm = state.scorecard.srm
        p = "n/a" if srm.error else f"{srm.p_value:.4g}"
        console.print(f"SRM p-value {p}" + (f" ({srm.message or srm.error})" if srm.error else ""))


def _weights(replayed: dict[str, Any]) -> str:
    """``control 0.5, treatment 0.5``: the variants' weights as the replay found them."""
    return ", ".join(f"{variant} {weight:g}" for variant, weight in replayed["variants"].items())


@app.command()
def history(
    experiment: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Who or what changed the experiment and when (agent recommendations, approvals too)."""
    with services() as s:
        entries = list(experiment_history(s.app, experiment))
    if as_json:
        for entry in entries:
            print(json.dumps(entry.as_dict(), default=str))
        return
    table = Table("position", "recorded at", "aggregate", "event", "by", "details")
    for entry in entries:
        details = ", ".join(
            f"{k}={json.dumps(v, default=str, ensure_ascii=False)}"
            for k, v in entry.details.items()
            if k != "by"  # it has its column
        )
        table.add_row(
            str(entry.position), entry.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            shown(entry.aggregate), entry.event, shown(entry.actor or "-"), shown(details),
        )  # fmt: skip
    console.print(whole_rows(table, "position", "event"))  # narrow: one block per change


@app.command()
def export(
    since: Annotated[
        str,
        typer.Option(
            help="First log position, or an ISO time (from the first event recorded then or "
            "later, every event after it)."
        ),
    ] = "1",
    format: Annotated[str, typer.Option(help="Only jsonl.")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """The raw event log as JSON lines (stored state verbatim, chain included)."""
    if format != "jsonl":
        raise typer.BadParameter("only --format jsonl is supported")
    position, when = (int(since), None) if since.isdigit() else (1, parse_time(since))
    with services() as s:
        rows = export_rows(s.app.recorder, position, when)
        if out is None:
            write_jsonl(rows, sys.stdout)
            return
        with out.open("w", encoding="utf-8") as file:
            count = write_jsonl(rows, file)
    console.print(f"Exported {count} events to {shown(out)}")


@app.command()
def publish(
    experiment: str,
    engine: Engine = None,
    alpha: Alpha = 0.05,
    publisher: Annotated[str, typer.Option(help="Who publishes (cli, mcp, agent:NAME).")] = "cli",
) -> None:
    """Compute the experiment's results from the log and record them as published."""
    settings = _settings(engine, alpha)
    with services() as s:
        record_id, scorecard = recorded.analyze_and_publish(s.app, experiment, settings, publisher)
    console.print(
        f"Recorded analysis {record_id} of {shown(experiment)} ({scorecard.total_users} users)"
    )


@app.command("analyses")
def list_analyses(experiment: Annotated[str | None, typer.Argument()] = None) -> None:
    """Recorded analyses (published results), oldest first."""
    with services() as s:
        records = recorded.recorded_analyses(s.app, experiment)
    table = Table("id", "experiment", "position", "engine", "engine version", "by", "at")
    for r in records:
        table.add_row(
            str(r.id), shown(r.experiment_key), str(r.position), shown(r.settings.engine),
            r.engine_version, shown(r.publisher), r.created_on.strftime("%Y-%m-%d %H:%M:%S"),
        )  # fmt: skip
    console.print(whole_rows(table, "id", "experiment"))


@app.command()
def recompute(record_id: str) -> None:
    """Recompute a recorded analysis from the log as of its position and compare."""
    with services() as s:
        result = recorded.recompute(s.app, record_id)
    record = result.record
    engines = f"engine {record.engine_version} then, {result.engine_version} now"
    if result.matches:
        console.print(
            f"[green]MATCHES[/] {shown(record.experiment_key)} "
            f"at position {record.position} ({engines})"
        )
        return
    console.print(
        f"[bold red]DIFFERS[/] {shown(record.experiment_key)} "
        f"at position {record.position} ({engines}):"
    )
    for line in result.differences[:50]:
        console.print(f"  {shown(line)}")
    raise typer.Exit(1)


@app.command()
def predictions(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The agents' track record: each recommendation's forecasts against its concluded
    experiment (scoring the ones not yet scored), interval coverage and Brier score."""
    from domain.intelligence.track_record import track_record as summarise
    from infrastructure.track_record import score_concluded, scored_recommendations

    with services() as s:
        newly = score_concluded(s.app)
        scored = scored_recommendations(s.app)
    record = summarise([(x.recommendation.experiment_key, x.score) for x in scored])
    if as_json:
        print(json.dumps({"newly_scored": [str(i) for i in newly], "track_record": {
            "experiments": record.experiments, "intervals": record.intervals,
            "coverage": record.coverage if record.intervals else None,
            "significance_forecasts": record.significance_forecasts,
            "brier": record.brier if record.significance_forecasts else None,
            "bands": [b.__dict__ for b in record.bands], "statement": record.statement(),
        }}))  # fmt: skip
        return
    table = Table("experiment", "action", "predicted lift [CI]", "final lift", "held",
                  "P(significant)", "significant", "Brier")  # fmt: skip
    for x in scored:
        f, sc = x.forecast, x.score
        interval = "" if not f.has_interval else f"{f.lift or 0:+.1%} [{f.ci_lower:+.1%}, {f.ci_upper:+.1%}]"  # fmt: skip
        table.add_row(
            shown(x.recommendation.experiment_key), shown(x.recommendation.action), interval,
            f"{x.outcome_lift:+.1%}", "" if sc.covered is None else ("yes" if sc.covered else "no"),
            "" if sc.predictive_power is None else f"{sc.predictive_power:.0%}",
            "yes" if sc.significant else "no", "" if sc.brier is None else f"{sc.brier:.3f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(newly)} recommendation(s) scored now; {len(scored)} scored in all.")
    console.print(record.statement() or "Too few scored forecasts for a track record yet.")


def report(
    experiment: str,
    html: Annotated[Path, typer.Option("--html", help="Where to write the HTML report.")],
    segment: Annotated[
        str,
        typer.Option(
            help="Segment dimension to break down by, as `segments --by` (device, country, ...), "
            "or another exposure context key ('source': how the user was assigned)."
        ),
    ] = "source",
) -> None:
    """Write a self-contained HTML report (lift over time, daily metrics, SRM, segments)."""
    from infrastructure.audit.report import build_report

    with services() as s, working(f"Replaying the log of {shown(experiment)} for the report..."):
        page = build_report(s.app, experiment, segment, s.engine)
    html.write_text(page, encoding="utf-8")
    console.print(
        f"Report of {shown(experiment)} written to {shown(html)} "
        f"({len(page) // 1024} KiB, offline; scorecard under the {s.engine} engine)"
    )
