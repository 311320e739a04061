"""`neonblue produce | simulate | ingest | triage | dead-letters`: the ingest path."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.table import Table

from infrastructure.cli.console import console, error_console, services, shown
from infrastructure.cli.parsing import finite
from infrastructure.ingest.bus import InProcessBus, Producer
from infrastructure.ingest.errors import DeliveryFailed, IngestError
from infrastructure.settings import KafkaSettings

if TYPE_CHECKING:  # the ingest machinery is imported by the commands that run it
    from infrastructure.ingest.loop import IngestStats

dead_letters_app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except IngestError as error:
        message = " ".join(str(error).split())  # one line, whatever the terminal width
        error_console.print(f"[bold red]ingest error:[/] {shown(message)}", soft_wrap=True)
        sys.exit(4)


def _require_kafka(settings: KafkaSettings, what: str) -> None:
    if settings.embedded:
        error_console.print(
            f"[bold red]error:[/] {what} needs Kafka; set NEONBLUE_KAFKA_BOOTSTRAP_SERVERS "
            "(the in-process bus lives only inside one process, e.g. `neonblue simulate`)."
        )
        sys.exit(2)


def _producer(settings: KafkaSettings) -> Producer:
    from infrastructure.ingest.kafka import CLIENT_LOG, KafkaProducer, ensure_topics

    CLIENT_LOG.setLevel(logging.CRITICAL)  # failures end the command with one line (_errors)
    ensure_topics(settings, [*settings.topics, settings.dead_letter_topic])
    return KafkaProducer(settings)


def _stats_table(stats: IngestStats) -> Table:
    table = Table(title="ingest", show_header=False, box=None)
    lag = "?" if stats.lag is None else f"{stats.lag:,}"
    for name, value in (
        ("consumed", f"{stats.consumed:,}  ({stats.rate:,.0f}/s)"),
        ("recorded", f"{stats.recorded:,}  (stored events {stats.stored_events:,})"),
        ("duplicates", f"{stats.duplicates:,}  skipped redelivered {stats.skipped:,}"),
        ("unclassified", f"{stats.unclassified:,}"),
        ("forgotten", f"{stats.forgotten:,}  (events of erased users, not stored)"),
        ("dead letters", f"{stats.dead_lettered:,}"),
        ("lag", lag),
        ("batches", f"{stats.batches:,}  retries {stats.retries}  rebalances {stats.rebalances}"),
        ("last error", shown(stats.last_error or "-")),
    ):
        table.add_row(name, value)
    return table


def produce(
    topic: Annotated[str, typer.Argument(help="Topic to publish to.")],
    source: Annotated[Path, typer.Argument(help="File of JSON lines; '-' reads stdin.")] = Path(
        "-"
    ),
    key_field: Annotated[str, typer.Option(help="JSON field used as the message key.")] = "user_id",
) -> None:
    """Publish JSON lines to a Kafka topic (keyed by user id, so one user has one partition)."""
    settings = KafkaSettings()
    _require_kafka(settings, "produce")
    lines = sys.stdin if str(source) == "-" else source.open(encoding="utf-8")
    with _errors():
        producer = _producer(settings)
        count = 0
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            key = None
            try:
                value = json.loads(line).get(key_field)
                key = str(value).encode() if value is not None else None
            except (ValueError, AttributeError, RecursionError):
                pass  # still published: ingest dead-letters it with the reason
            try:
                producer.produce(topic, line.encode(), key)
            except DeliveryFailed as error:
                producer.flush()
                raise DeliveryFailed(
                    f"line {number}: {error}; the {count:,} message(s) before it were published"
                ) from None
            count += 1
        producer.flush()
    console.print(f"Published {count:,} message(s) to {shown(topic)}.")


def simulate(
    experiments: Annotated[
        int, typer.Option(help="How many portfolio experiments (1-5).", min=1, max=5)
    ] = 3,
    users: Annotated[int, typer.Option(help="Users per experiment.", min=1)] = 10_000,
    effect: Annotated[
        float | None,
        typer.Option(
            help="True relative lift of every treatment (e.g. 0.05).",
            min=-1.0,
            max=10.0,
            callback=finite,
        ),
    ] = None,
    srm: Annotated[
        float,
        typer.Option(
            help="Fraction of treatment exposures lost (SRM).", min=0.0, max=0.99, callback=finite
        ),
    ] = 0.0,
    novelty: Annotated[
        float,
        typer.Option(
            help="Extra day-0 lift, decaying (novelty).", min=-1.0, max=10.0, callback=finite
        ),
    ] = 0.0,
    sessions: Annotated[
        float,
        typer.Option(
            help="Mean sessions (exposures) per user.", min=0.1, max=1000.0, callback=finite
        ),
    ] = 2.0,
    unknown_fraction: Annotated[
        float,
        typer.Option(
            help="Users sending an unknown event type.", min=0.0, max=1.0, callback=finite
        ),
    ] = 0.0,
    rate: Annotated[
        float,
        typer.Option(help="Events per second; 0 = as fast as possible.", min=0.0, callback=finite),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Publish a realistic event stream with known true effects (Kafka, or the in-process bus
    which is then ingested in this process)."""
    from infrastructure.ingest.runtime import ingest_in_process
    from infrastructure.ingest.simulate import (
        TrafficPlan,
        ensure_experiments,
        planned,
        publish,
        wire_events,
    )  # fmt: skip

    plan = TrafficPlan(
        experiments, users, effect, srm, novelty, sessions, unknown_fraction, seed=seed
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=plan.days)
    with services(vector_index=False) as built, _errors():  # publishes or ingests only
        settings = built.kafka
        ensure_experiments(built.app, planned(plan), start)
        if settings.embedded:
            bus = InProcessBus()
            count = publish(bus.producer(), wire_events(plan, start), rate)
            console.print(f"Published {count:,} events on the in-process bus; ingesting...")
            stats = ingest_in_process(built.app, bus, settings)
            console.print(_stats_table(stats))
            return
        count = publish(_producer(settings), wire_events(plan, start), rate)
    console.print(f"Published {count:,} events to {shown(', '.join(settings.topics[1:]))}.")


def ingest(
    until_idle: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds without input once the consumer group has "
            "assigned this process its partitions (an error if it assigns none in a minute)."
        ),
    ] = None,
    health_file: Annotated[
        Path | None,
        typer.Option(help="Touched at every progress report (a liveness probe checks its age)."),
    ] = None,
) -> None:
    """Run the Kafka consumer into the event store with a live progress and lag display."""
    from infrastructure.ingest.runtime import kafka_loop

    def progress(stats: IngestStats) -> None:
        live.update(_stats_table(stats))
        if health_file is not None:
            health_file.touch()

    with services(vector_index=False) as built, _errors():  # no heap fill (bootstrap)
        _require_kafka(built.kafka, "ingest")
        with Live(console=console, refresh_per_second=2) as live:
            loop = kafka_loop(built.app, built.kafka, on_progress=progress)
            loop.install_signal_handlers()
            stats = loop.run(until_idle=until_idle)
            live.update(_stats_table(stats))


@dead_letters_app.command("list")
def list_dead_letters(
    limit: Annotated[int, typer.Option(help="Most dead letters to show.")] = 50,
    kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. too_large).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Dead letters with their source, reason and original bytes (the event store's
    dead-letter table, and the dead-letter topic when Kafka is configured)."""
    from infrastructure.ingest.runtime import dead_letters

    with services() as built, _errors():
        letters = dead_letters(built.kafka, limit, app=built.app, kind=kind)
    if as_json:
        for letter in letters:
            print(
                json.dumps(
                    {**letter.__dict__, "key": None, "original": letter.original_text(10_000)}
                )
            )
        return
    table = Table(title=f"Dead letters ({len(letters)})")
    for column in ("source", "kind", "reason", "original"):
        table.add_column(column, overflow="fold")
    for d in letters:
        source = f"{shown(d.source_topic)}[{d.source_partition}]@{d.source_offset}"
        size = f" ({d.original_length:,} bytes)" if d.original_length > 60 else ""
        table.add_row(source, d.kind, shown(d.reason), shown(d.original_text(60)) + size)
    console.print(table)


@dead_letters_app.command("replay")
def replay_dead_letters(
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (e.g. unknown_experiment).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Most dead letters to replay.")] = 10_000,
) -> None:
    """Publish dead letters' original bytes to their source topics again (after a fix).
    Originals come whole from the event store's dead-letter table; a letter known only
    from the topic with a cut original (``truncated``) is skipped."""
    from infrastructure.ingest.runtime import dead_letters

    with services() as built, _errors():
        settings = built.kafka
        _require_kafka(settings, "dead-letters replay")
        letters = dead_letters(settings, limit, app=built.app, kind=kind)
        whole = [d for d in letters if d.original is not None and not d.truncated]
        producer = _producer(settings)
        for letter in whole:
            producer.produce(letter.source_topic, letter.original or b"", letter.key)
        producer.flush()
    skipped = len(letters) - len(whole)
    note = f"; skipped {skipped:,} without their whole original" if skipped else ""
    console.print(f"Replayed {len(whole):,} dead letter(s) to their source topics{note}.")
