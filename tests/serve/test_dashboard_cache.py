"""Dashboard answers computed ahead (snapshots): a page never waits for a recomputation,
never computes what a pass is computing, and shows the last run's answers after a restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from infrastructure.serve.dashboard.snapshots import Snapshots, Warmer


def computing(calls: list[int], position: int, release: threading.Event | None = None):
    def run() -> str:
        calls.append(position)
        if release is not None:
            release.wait(10)
        return f"at {position}"

    return run


def eventually(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_new_position_is_computed_in_the_background_while_the_last_answer_shows():
    snapshots = Snapshots()
    release = threading.Event()
    calls: list[int] = []
    assert snapshots.latest(("page",), 5, computing(calls, 5)) == (5, "at 5")  # none: now
    assert snapshots.latest(("page",), 5, computing(calls, 5)) == (5, "at 5") and calls == [5]
    assert snapshots.latest(("page",), 9, computing(calls, 9, release)) == (5, "at 5")  # at once
    assert snapshots.latest(("page",), 9, computing(calls, 9)) == (5, "at 5")  # one recomputation
    release.set()
    eventually(lambda: snapshots.latest(("page",), 9, computing(calls, 9)) == (9, "at 9"))
    assert calls == [5, 9]
    assert snapshots.latest(("other",), 9, computing(calls, 9)) == (9, "at 9")  # kinds are apart
    snapshots.put(("page",), 7, "late")  # a slower computation of an older position loses
    assert snapshots.latest(("page",), 9, computing(calls, 9)) == (9, "at 9")


def test_a_request_waits_for_the_answer_a_pass_is_computing_instead_of_computing_it_again():
    snapshots = Snapshots()
    release = threading.Event()
    calls: list[int] = []
    warming = threading.Thread(
        target=snapshots.refresh, args=(("card",), 3, computing(calls, 3, release))
    )
    warming.start()
    eventually(lambda: calls == [3])
    answers: list[tuple[int, str]] = []
    page = threading.Thread(
        target=lambda: answers.append(snapshots.latest(("card",), 3, computing(calls, 3)))
    )
    page.start()
    time.sleep(0.05)
    assert answers == []  # waiting for the pass
    release.set()
    warming.join(10)
    page.join(10)
    assert answers == [(3, "at 3")] and calls == [3]


def test_answers_outlive_a_restart_through_the_file(tmp_path: Path):
    path = tmp_path / "snapshots.json"
    before = Snapshots(path, store="sqlite:/data/events.db")
    before.put(("card", "checkout", "bayesian", True), 12, {"rows": [{"lift": 0.031}]})
    before.put(("charts", "checkout", "bayesian", None), 12, "<svg/>")  # None: not kept
    before.save()
    assert Snapshots(path, store="postgresql:db:5432/neonblue").load(head=20) == 0
    assert Snapshots(path, store="sqlite:/data/events.db").load(head=11) == 0  # a new log
    after = Snapshots(path, store="sqlite:/data/events.db")
    assert after.load(head=12) == 1

    def nothing_computed() -> None:
        raise AssertionError("computed although the last run's answer was there")

    found = after.latest(("card", "checkout", "bayesian", True), 12, nothing_computed)
    assert found == (12, {"rows": [{"lift": 0.031}]})
    path.write_text('{"format": 0, "answers": [[["card"], 1, 2]]}')  # another serve's format
    assert Snapshots(path).load(head=5) == 0
    path.write_text("{not json")
    assert Snapshots(path).load(head=5) == 0


@pytest.mark.parametrize("burst", [1, 20])
def test_the_warmer_runs_once_at_start_and_once_per_burst_of_moves(burst: int):
    passes: list[float] = []
    warmer = Warmer(lambda stopped: passes.append(time.monotonic()), Snapshots(), quiet=0.05)
    warmer.start()
    try:
        eventually(lambda: len(passes) == 1)
        warmer.moved("relational", 5)  # only the analytics model's position matters
        time.sleep(0.15)
        assert len(passes) == 1
        for position in range(burst):
            warmer.moved("analytics", position)
            time.sleep(0.01)
        eventually(lambda: len(passes) == 2)
        time.sleep(0.15)
        assert len(passes) == 2 and warmer.passes == 2
    finally:
        warmer.stop()
    assert warmer._thread is not None and not warmer._thread.is_alive()


def test_the_catalog_reads_again_only_what_changed_since_the_last_head():
    from domain.experiments.values import Metric, MetricKind, MetricRole
    from domain.intelligence.policy import Action, Proposal
    from infrastructure.bootstrap import build_app
    from infrastructure.recommendations import record_proposal
    from infrastructure.serve.dashboard.catalog import Catalog
    from infrastructure.settings import EventStoreSettings
    from tests.factories import two_variants

    app = build_app(EventStoreSettings(event_store="memory:"))
    metric = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)
    for key in ("hero", "cta"):
        app.create_experiment(key, key.title(), variants=two_variants(), metrics=[metric])
    catalog = Catalog(app)
    hero, cta = catalog.definitions(app.head())
    assert [str(hero.status), str(cta.status)] == ["draft", "draft"]
    assert catalog.recommendations(app.head()) == []
    app.start_experiment("cta")
    app.create_experiment("late", "Late", variants=two_variants(), metrics=[metric])
    proposal = Proposal(Action.CONCLUDE, None, ["..."])
    proposed = record_proposal(
        app, "cta", proposal, tool_calls=[], positions={}, mode="deterministic", run_id="r"
    )
    again = catalog.definitions(app.head())
    assert [e.key for e in again] == ["hero", "cta", "late"]
    assert again[0] is hero  # no new event: not read again
    assert again[1] is not cta and str(again[1].status) == "running"
    assert catalog.recommendations(app.head()) == [proposed]


def test_the_drawer_draws_after_each_pass_waits_for_requests_and_again_when_a_page_is_due():
    from infrastructure.serve.dashboard.drawer import Busy, Drawer

    busy = Busy()
    rounds: list[float] = []
    charts: list[float] = []

    def draw(pause, rested, stopped) -> float | None:
        pause()  # before a chart
        charts.append(time.monotonic())
        rested(0.01)
        rounds.append(time.monotonic())
        return 0.2 if len(rounds) == 2 else None  # the second round: a page falls due

    drawer = Drawer(draw, busy)
    drawer.start()
    try:
        time.sleep(0.1)
        assert rounds == []  # only after a warm pass
        with busy.serving():  # a request is being served: no chart is drawn meanwhile
            drawer.wake()
            time.sleep(0.2)
            assert charts == []
            served = time.monotonic()
        eventually(lambda: len(rounds) == 1)
        assert charts[0] >= served
        drawer.wake()
        eventually(lambda: len(rounds) == 3)  # the page due 0.2 s after the second round
        assert rounds[2] - rounds[1] >= 0.2
        time.sleep(0.3)
        assert len(rounds) == 3 and drawer.as_dict()["first_round_seconds"] is not None
    finally:
        drawer.stop()
    assert drawer._thread is not None and not drawer._thread.is_alive()


pytestmark = pytest.mark.xdist_group("test_dashboard_cache")  # its module fixtures are built once


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory):
    """The dashboard's views in this process over three running experiments of the
    simulated portfolio (a few hundred users each)."""
    from itertools import islice

    from infrastructure.bootstrap import bootstrap
    from infrastructure.read_side import LocalReadSide
    from infrastructure.serve.dashboard.views import Views
    from infrastructure.settings import EventStoreSettings
    from infrastructure.simulation import PORTFOLIO, simulate_traffic
    from tests.support.portfolio import START

    data = tmp_path_factory.mktemp("drawer")
    with bootstrap(EventStoreSettings(data_dir=data, event_store="")) as services:
        app = services.app
        for index, plan in enumerate(PORTFOLIO[:3]):
            app.create_experiment(plan.key, plan.name, variants=plan.variants, metrics=plan.metrics)
            app.start_experiment(plan.key, at=START)
            commands = simulate_traffic(plan, app.experiment(plan.key), 200, START, seed=index)
            while batch := list(islice(commands, 2000)):
                app.record(batch)
        services.read_models().runner("analytics").catch_up()
        yield Views(LocalReadSide(services))


def test_a_page_never_opened_is_drawn_in_the_background_and_opens_without_drawing(views):
    answers = views.answers
    experiments = views.definitions()
    opened, first = experiments[0], experiments[1]
    answers.open(opened.key)  # an opened page's charts are the warmer's
    rests: list[float] = []
    pauses: list[int] = []
    due = views.draw_unopened(lambda: pauses.append(1), rests.append, lambda: len(rests) >= 1)
    assert len(rests) == 1 and due is None  # one experiment drawn, then stopped
    assert len(pauses) >= 6  # before each chart (2 traffic, one lift per engine) and segments
    assert answers.charted(first.key) and not answers.charted(opened.key)
    position = views.position()
    assert answers.snapshots.position(("lift", first.key, "bayesian")) == position
    # its data moved since: not drawn again before REDRAW seconds
    again = answers.draw_unopened([first], position + 1, lambda: None, rests.append, lambda: False)
    assert len(rests) == 1 and again is not None and 50 < again <= 60
    before = answers.drawn.drawn
    page = views.experiment(first.key, "bayesian", False)  # its first opening
    assert answers.drawn.drawn == before  # nothing drawn while the user waits
    assert {"exposures", "srm"} <= set(page["charts"]) and page["position"] == position
    assert any(chart.startswith("lift-") for chart in page["charts"])
    assert answers.opened(first.key)


def test_operations_lists_a_model_that_cannot_list_its_copies(views, monkeypatch):
    """A read model whose copies cannot be listed (e.g. one dropped by a rebuild meanwhile)
    shows as an error row; the rest of the page still renders."""
    from infrastructure.serve.dashboard.routes import templates

    def fails() -> None:
        raise RuntimeError("collection kb_1 does not exist")

    monkeypatch.setattr(views.services.read_models().model("knowledge"), "generations", fails)
    values = views.operations([])
    html = templates().get_template("operations.html").render(
        csrf="", signed_in=True, token_required=False, flash=None, rate=None, verified=None,
        position=0, rebuilds=[], projections=[], **values,
    )  # fmt: skip
    assert "error: collection kb_1 does not exist" in html
    assert html.count("<td>live</td>") == len(views.services.read_models().names) - 1
