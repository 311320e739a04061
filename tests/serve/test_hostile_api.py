"""Hostile bodies at serve's /api: each gets a one-line configuration error (400), never
a 500 with a traceback in serve's log; identical requests at once get identical answers.

(`test_serve` covers non-JSON, blank, too long and wrongly typed arguments; these are the
bodies the standard JSON parser accepts or chokes on differently: nesting beyond Python's
recursion limit, and lone surrogates, which JSON's \\u escapes can spell but UTF-8 cannot.)
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.projections.scenario import create_experiments
from tests.projections.test_resilience import _traffic
from tests.serve.conftest import env_for, running_serve

HOSTILE = [
    pytest.param("/api/ask", b"[" * 5000 + b"]" * 5000, id="ask-nested-arrays"),
    pytest.param("/api/ask", b'{"question": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001, id="ask-nested-objects"),
    pytest.param("/api/recommend", b"[" * 20_000, id="recommend-unclosed-nesting"),
    pytest.param("/api/ask", b'{"question": "How is alpha \\ud800 doing?"}', id="ask-lone-surrogate"),
    pytest.param("/api/ask", b'{"question": "How is alpha doing?", "conversation_id": "\\udcff"}', id="conversation-surrogate"),
    pytest.param("/api/recommend", b'{"experiment": "alpha\\udfff"}', id="recommend-surrogate"),
    pytest.param("/api/recommend", b'{"experiment": "' + b"k" * 101 + b'"}', id="recommend-key-beyond-100"),
]  # fmt: skip


pytestmark = pytest.mark.xdist_group("test_hostile_api")  # its module fixtures are built once


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("hostile")
    app = build_app(EventStoreSettings(data_dir=data, event_store=""))
    create_experiments(app)
    _traffic(app, 0, 400)
    app.close()
    with running_serve(env_for(data), data) as serve:
        serve.wait_caught_up()
        yield serve
        code, output = serve.stop()
        assert code == 0, output
        assert "Traceback" not in output, output[-3000:]


@pytest.mark.parametrize(("path", "body"), HOSTILE)
def test_hostile_bodies_get_a_clear_400(served, path: str, body: bytes):
    answer = httpx.post(f"{served.url}{path}", content=body, timeout=60)
    assert answer.status_code == 400, answer.text[:500]
    assert answer.json()["kind"] == "configuration", answer.text[:500]
    assert "\n" not in answer.json()["error"]
    assert served.health()["status"] == "ok"


def test_identical_requests_at_once_get_identical_answers(served):
    def ask(_: int) -> tuple[int, str]:
        answer = httpx.post(
            f"{served.url}/api/ask", json={"question": "How is alpha doing?"}, timeout=120
        )
        return answer.status_code, answer.json().get("answer", answer.text)

    def results(_: int) -> tuple[int, str]:
        answer = httpx.get(f"{served.url}/api/results?experiment=alpha", timeout=120)
        body = answer.json()
        body.get("scorecard", {}).pop("days_observed", None)
        for row in body.get("scorecard", {}).get("rows", []):
            row.pop("impact", None)  # per day so far: the wall clock
        return answer.status_code, json.dumps(body, sort_keys=True)

    with ThreadPoolExecutor(6) as pool:
        asked = list(pool.map(ask, range(6)))
        scored = list(pool.map(results, range(6)))
    for answers in (asked, scored):
        assert {status for status, _ in answers} == {200}, answers[0]
        assert len({text for _, text in answers}) == 1, answers
    assert "alpha" in asked[0][1]
