"""The dashboard of `neonblue serve` in real headless Chromium: sign-in, every page without
console errors, the experiment chart by its elements, an approval made in the page (CSRF
checked) that resumes the agent run and changes the event store, and live refresh."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from infrastructure.bootstrap import bootstrap
from infrastructure.recommendations import recommendations
from infrastructure.serve.dashboard.views import percent
from infrastructure.settings import EventStoreSettings
from tests.serve.conftest import TOKEN, env_for, running_serve
from tests.support.browser import Console, box, check_lift_chart, chromium, inside
from tests.support.serve import Serve
from tests.support.stores import copy_store

# one serve and one browser for the module (~40 s), on one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_dashboard")]

KEY = "checkout-cta-contrast"
STOPPED = "homepage-hero-video"  # stopped after 15 days: the agent proposes to conclude it


@pytest.fixture(scope="module")
def data_dir(portfolio_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_store(portfolio_dir, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[Serve]:
    with running_serve(env_for(data_dir, NEONBLUE_MCP_TOKEN=TOKEN), data_dir) as serve:
        serve.wait_caught_up()
        yield serve
        code, output = serve.stop()
        assert code == 0, output


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def signed_in(browser: Any, served: Serve) -> Iterator[Any]:
    """A browser context that signed in through the login form with the serve token."""
    context = browser.new_context(base_url=served.url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(90_000)  # the first render of a page draws its charts
    page = context.new_page()
    page.goto("/operations")
    assert page.url.startswith(f"{served.url}/login?next=")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served.url}/operations")
    page.close()
    yield context
    context.close()


def open_page(context: Any, path: str) -> tuple[Any, Console]:
    console = Console()
    page = console.watch(context.new_page())
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response and response.status)
    return page, console


def test_missing_login_and_bad_token_are_refused(browser: Any, served: Serve):
    context = browser.new_context(base_url=served.url)
    context.set_default_timeout(90_000)
    page = context.new_page()
    for path in ("/", f"/experiments/{KEY}", "/approvals", "/ask", "/operations"):
        page.goto(path)
        assert "/login" in page.url and page.locator("table").count() == 0, path
    page.fill("input[name=token]", "not-the-token-0123456789")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That is not the token."
    context.close()
    # a form posted without a session changes nothing; the API still wants its bearer token
    with httpx.Client(base_url=served.url, timeout=60) as client:
        refused = client.post("/approvals/x", data={"decision": "approve", "by": "eve"})
        assert refused.status_code == 401 and "Sign in first" in refused.text
        assert client.get("/live").status_code == 401
        assert client.get("/api/results", params={"experiment": KEY}).status_code == 401


def test_every_page_loads_without_console_errors(signed_in: Any):
    for path in ("/", "/?status=running", "/?q=checkout+button+colour", "/approvals",
                 "/ask", "/operations", f"/experiments/{KEY}?engine=bayesian&cuped=off",
                 f"/experiments/{KEY}?as_of=2026-09-08T00:00"):  # fmt: skip
        page, console = open_page(signed_in, path)
        page.wait_for_timeout(100)
        assert console.errors == [], (path, console.errors)
        page.close()
    page, _ = open_page(signed_in, "/?tag=checkout")
    keys = page.locator("#experiments tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")
    assert KEY in keys and STOPPED not in keys  # the tag filter
    page.goto("/?q=checkout+button+colour")  # semantic search: best match first, scored
    first = page.locator("#experiments tbody tr").first
    assert first.get_attribute("data-key") == KEY
    assert 0 < float(first.locator("td").last.inner_text()) <= 1
    page.goto(f"/experiments/{KEY}?engine=bayesian&cuped=off")
    assert "Scorecard (bayesian, CUPED off)" in page.locator("h2").all_inner_texts()
    page.goto(f"/experiments/{KEY}?as_of=2026-09-08T00:00")
    assert "happened by 2026-09-08" in page.locator("#replay").inner_text()
    page.goto("/operations")
    assert page.locator("#projections tbody tr").count() == 3
    page.click("text=Verify the hash chain now")
    assert page.locator("#verified").inner_text().startswith("Log verified: ")
    page.close()


def test_experiment_page_shows_the_chart(signed_in: Any, served: Serve, tmp_path: Path):
    page, console = open_page(signed_in, f"/experiments/{KEY}")
    check_lift_chart(page, "lift-treatment")
    for chart in ("exposures", "srm"):
        assert page.locator(f'[id="{chart}-line-0"]').count() == 1
    assert page.locator('[id="exposures-line-1"]').count() == 1  # one line per variant
    partial = page.locator('[id="lift-treatment-partial-day"]')  # still running: today is partial
    if partial.count():
        assert inside(
            box(page, '[id="lift-treatment-partial-day"]'), box(page, '[id="lift-treatment-plot"]')
        )
    shot = tmp_path / "experiment.png"
    page.screenshot(path=str(shot), full_page=True)
    chart = box(page, "#lift-treatment svg")
    assert chart["width"] > 500 and chart["height"] > 150 and shot.stat().st_size > 20_000
    assert page.locator("#scorecard tbody tr").count() >= 1
    # the answer computed ahead is the scorecard the API computes at request
    with httpx.Client(base_url=served.url, timeout=60) as client:
        api = client.get(
            "/api/results", params={"experiment": KEY}, headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()["scorecard"]
    shown = page.locator("#scorecard tbody tr td:nth-child(5)").all_inner_texts()
    assert shown == [percent(r["lift"]) for r in api["rows"]]
    assert page.locator("#segments tbody tr").count() >= 2
    assert (
        page.locator("#segments-metric")
        .inner_text()
        .startswith(f"{api['rows'][0]['metric']} per segment (")
    )
    assert page.locator("#history tbody tr").count() >= 2  # created, started
    assert console.errors == []
    page.close()


def test_approval_in_the_page_resumes_the_run_and_changes_the_store(
    signed_in: Any, served: Serve, data_dir: Path
):
    overview, overview_console = open_page(signed_in, "/")  # stays open: refreshes by itself
    row = overview.locator(f'tr[data-key="{STOPPED}"] td').nth(1)
    assert row.inner_text() == "stopped"

    page, console = open_page(signed_in, f"/experiments/{STOPPED}")
    page.click("#recommend")
    assert "waits for approval" in page.locator(".flash").inner_text()
    page.goto("/approvals")
    pending = page.locator(f'article[data-state="pending"]:has(a[href="/experiments/{STOPPED}"])')
    assert pending.count() == 1
    recommendation_id = pending.get_attribute("data-id")

    # a forged form (wrong CSRF token) is refused and changes nothing
    pending.locator("input[name=csrf]").evaluate("input => input.value = 'forged'")
    pending.locator("input[name=by]").fill("mallory")
    with page.expect_response(f"**/approvals/{recommendation_id}") as forged:
        pending.locator("button[value=approve]").click()
    assert forged.value.status == 403
    forbidden = "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    assert state_of(data_dir, recommendation_id) == ("pending", None, "stopped")

    page.goto("/approvals")
    pending = page.locator(f'article[data-id="{recommendation_id}"]')
    pending.locator("input[name=by]").fill("alice")
    pending.locator("input[name=note]").fill("hero video hurt conversion")
    pending.locator("button[value=approve]").click()
    flash = page.locator(".flash").inner_text()
    assert "Approved by alice (the agent run resumed)" in flash, flash
    assert state_of(data_dir, recommendation_id) == ("applied", "alice", "concluded")
    assert run_of(data_dir, recommendation_id) == {"waiting_at": [], "checkpointed": True}

    # the overview opened before the approval shows the concluded experiment without a reload
    overview.wait_for_function(
        f"() => document.querySelector('tr[data-key=\"{STOPPED}\"] td:nth-child(2)')"
        ".textContent.trim() === 'concluded'",
        timeout=15_000,
    )
    assert int(overview.evaluate("document.body.dataset.refreshed")) >= 1
    assert [e for e in console.errors if e != forbidden] == [], (console.errors, console.responses)
    assert overview_console.errors == []


def test_ask_box_answers_with_numbers_and_tools(signed_in: Any):
    page, console = open_page(signed_in, "/ask")
    page.fill("textarea[name=question]", f"How is {KEY} doing?")
    page.click("#ask button[type=submit]")
    answer = page.locator("#answer .answer").inner_text()
    assert KEY in answer and "%" in answer
    assert page.locator("#sources li").count() >= 1
    assert console.errors == []


def test_a_rebuild_started_in_the_page_shows_progress_and_switches_the_copy(
    signed_in: Any, served: Serve
):
    page, console = open_page(signed_in, "/operations")
    before = live_copy(page, "analytics")
    page.select_option("#rebuild select[name=projection]", "analytics")
    page.click("#rebuild button[type=submit]")
    assert "Rebuilding analytics" in page.locator(".flash").inner_text()
    done = '#rebuilds tr[data-projection="analytics"][data-state="done"]'
    page.wait_for_selector(done, timeout=60_000)  # the page refreshes itself while it runs
    assert page.locator(f"{done} .percent").inner_text() == "100%"
    page.goto("/operations")
    assert live_copy(page, "analytics") != before  # the fresh copy replaced the old one
    status = {p["name"]: p for p in served.health(TOKEN)["projections"]}["analytics"]
    assert status["position"] == status["head"] and not status["error"]
    page.goto(f"/experiments/{KEY}?engine=frequentist")  # answers read the new copy
    assert page.locator("#scorecard tbody tr").count() >= 1
    assert console.errors == []
    page.close()


def live_copy(page: Any, model: str) -> str:
    rows = page.locator("#generations tbody tr").evaluate_all(
        "rs => rs.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    return next(name for found, name, state, *_ in rows if found == model and state == "live")


def state_of(data_dir: Path, recommendation_id: str) -> tuple[str, str | None, str]:
    """The recommendation and its experiment as the event store has them (read by this
    process, not serve)."""
    with bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services:
        found = {str(r.id): r for r in recommendations(services.app)}
        recommendation = found[recommendation_id]
        status = str(services.app.experiment(recommendation.experiment_key).status)
    return recommendation.state, getattr(recommendation, "decided_by", None), status


def run_of(data_dir: Path, recommendation_id: str) -> dict[str, Any]:
    from agents.intelligence.runner import inspect_run

    with (
        bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services,
        ThreadPoolExecutor(1) as thread,  # Playwright's sync API holds this thread's loop
    ):
        details = thread.submit(anyio.run, inspect_run, services, recommendation_id).result()
    return {"waiting_at": details["run_waiting_at"], "checkpointed": details["run_checkpointed"]}
