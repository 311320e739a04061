"""What a careless or hostile HTTP client can send to `neonblue serve`, through real HTTP:
every answer is a 4xx with one actionable line (JSON under /api, a short page for the
dashboard), never a 500 or a traceback, never raw control characters or the client's huge
input echoed back, and nothing changes the store without the right token (or, without a
token, from another site's page).

(`test_hostile_api` covers the JSON bodies Python's parser chokes on; `test_serve` and
`test_dashboard` the token and the CSRF check of the forms.)
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serve.conftest import TOKEN, env_for, running_serve
from tests.support.serve import Serve, small_store
from tests.support.stores import copy_store

pytestmark = pytest.mark.xdist_group("test_hostile_http")

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HUGE = "x" * 60_000  # under httpx's and uvicorn's URL limits, so the app sees it
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
HOSTILE_VALUES = ["", "-1", "NaN", "inf", "1e999", "9999-99-99", "0000-01-01", "0001-01-01T00:00",
                  "9999-12-31T23:59", "a\x00b", "\x1b[31mred", "\u202egnp.exe", "\u2066x\u2069",
                  "../../etc/passwd", "%2e%2e%2f", "<script>x</script>", HUGE]  # fmt: skip
PAGES = {"/": ("status", "tag", "q", "notice"),
         "/experiments/alpha": ("engine", "cuped", "as_of", "cut"),
         "/approvals": ("notice",), "/operations": ("notice",), "/ask": ("notice",),
         "/live": ("x",), "/login": ("next",)}  # fmt: skip
KEYS = ["nope", "%2e%2e", "..%2f..%2fetc", "a%2fb", "a%00b", "a%1b%5b31m", "%e2%80%ae", "%ff", "k" * 300]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_store(tmp_path_factory.mktemp("hostile-http"), 200)


def stopped_cleanly(serve: Serve) -> None:
    code, output = serve.stop()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


@pytest.fixture(scope="module")
def served(data: Path) -> Iterator[Serve]:
    """Serve with a token (the dashboard's pages then want a sign-in)."""
    with running_serve(env_for(data, NEONBLUE_MCP_TOKEN=TOKEN), data) as serve:
        serve.wait_caught_up()
        yield serve
        stopped_cleanly(serve)


@pytest.fixture(scope="module")
def open_serve(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """Serve without a token (loopback only, pages open), on its own copy of the store."""
    copy = copy_store(data, tmp_path_factory.mktemp("hostile-http-open"))
    with running_serve(env_for(copy), copy) as serve:
        serve.wait_caught_up()
        yield serve
        stopped_cleanly(serve)


@pytest.fixture(scope="module")
def browser(served: Serve) -> Iterator[httpx.Client]:
    """A client signed in through the login form (its session cookie)."""
    with httpx.Client(base_url=served.url, timeout=60) as client:
        signed = client.post("/login", data={"token": TOKEN, "csrf": csrf_of(client, "/login")})
        assert signed.status_code == 303, signed.text
        yield client


@pytest.fixture(scope="module")
def csrf(browser: httpx.Client) -> str:
    """The signed-in session's CSRF token, as the pages put it in their forms."""
    return csrf_of(browser, "/ask")


def csrf_of(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def refusal(page: httpx.Response) -> str:
    found = re.search(r'id="refusal">(.*?)</p>', page.text, re.S)
    assert found is not None, page.text[:500]
    return found.group(1)


def assert_bounded(answer: httpx.Response, what: object) -> None:
    """No server error, no traceback, no raw control characters, no huge input echoed."""
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text and "Error:" not in answer.text, (what, answer.text[:300])
    assert not CONTROLS.search(answer.text), (what, CONTROLS.search(answer.text))
    assert HUGE[:1000] not in answer.text, (what, len(answer.text))


def raw(url: str, request: bytes, close_early: bool = False) -> bytes:
    """``request`` sent as is over one connection; the answer (none when ``close_early``)."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        if close_early:
            time.sleep(0.2)
            return b""
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_every_page_and_the_api_answer_hostile_query_values_in_bounds(
    served: Serve, browser: httpx.Client
):
    with httpx.Client(base_url=served.url, timeout=60, headers=AUTH) as api:
        for value in HOSTILE_VALUES:
            for name in ("experiment", "engine", "cuped"):
                params = {"experiment": "alpha", name: value}
                assert_bounded(api.get("/api/results", params=params), (name, value[:20]))
            for path, names in PAGES.items():
                for name in names:
                    page = browser.get(path, params={name: value})
                    assert_bounded(page, (path, name, value[:20]))
        for key in KEYS:
            assert_bounded(api.get(f"/api/results?experiment={key}"), key)
            page = browser.get(f"/experiments/{key}")
            assert_bounded(page, key)
            assert page.status_code == 404 and "\n" not in refusal(page).strip(), key


def test_api_unknown_paths_and_methods_answer_one_line_of_json(served: Serve):
    with httpx.Client(base_url=served.url, timeout=60, headers=AUTH) as api:
        for method, path, status in [("GET", "/api/nope", 404), ("GET", "/api", 404),
                                     ("GET", "/api/" + "a" * 5000, 404), ("GET", "/api/ask", 405),
                                     ("DELETE", "/api/recommend", 405), ("PUT", "/api/results", 405),
                                     ("POST", "/health", 405)]:  # fmt: skip
            answer = api.request(method, path)
            assert answer.status_code == status, (path, answer.text)
            body = answer.json()
            assert body["kind"] == "request" and "\n" not in body["error"], body
            assert len(answer.text) < 400
        assert "use POST" in api.get("/api/ask").json()["error"]
        assert api.get("/api/ask").headers["allow"] == "POST"
        assert "/api/results" in api.get("/api/nope").json()["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        pytest.param(b"How is alpha doing?", "text/plain", "must be a JSON object", id="text"),
        pytest.param(b"question=How+is+alpha", "application/x-www-form-urlencoded", "must be a JSON object", id="form"),
        pytest.param(b'{"question": "How is', "application/json", "must be a JSON object", id="truncated"),
        pytest.param(b'["How is alpha doing?"]', "application/json", "must be a JSON object", id="list"),
        pytest.param(b"null", "application/json", "must be a JSON object", id="null"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, "application/json", "must be a JSON object", id="nested-10000"),
        pytest.param(b'{"question": "' + b"a" * 100_000 + b'"}', "application/json", "over 64 KB", id="huge"),
    ],
)  # fmt: skip
def test_api_bodies_that_are_no_json_object_are_named_as_such(
    served: Serve, body: bytes, content_type: str, says: str
):
    answer = httpx.post(
        f"{served.url}/api/ask",
        content=body,
        headers={**AUTH, "Content-Type": content_type},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["kind"] == "configuration"
    assert says in answer.json()["error"], answer.text[:300]


def test_api_refuses_ambiguous_or_mistyped_arguments_without_echoing_them(served: Serve):
    with httpx.Client(base_url=served.url, timeout=60, headers=AUTH) as api:
        huge_engine = api.get("/api/results", params={"experiment": "alpha", "engine": HUGE})
        assert huge_engine.status_code == 400 and len(huge_engine.text) < 300
        assert "frequentist, sequential, bayesian" in huge_engine.json()["error"]
        twice = api.get("/api/results?experiment=alpha&experiment=beta")
        assert twice.status_code == 400 and "given 2 times" in twice.json()["error"]
        cuped = api.get("/api/results", params={"experiment": "alpha", "cuped": "maybe"})
        assert cuped.status_code == 400 and "cuped must be true or false" in cuped.text
        for conversation in (0, False, [], {"id": 1}):
            asked = api.post(
                "/api/ask",
                json={"question": "How is alpha doing?", "conversation_id": conversation},
            )
            assert asked.status_code == 400, (conversation, asked.text[:200])
            assert "conversation_id" in asked.json()["error"]


def test_a_client_leaving_mid_body_is_no_server_error(served: Serve):
    headers = b"Host: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    headers += b"Content-Length: 1000\r\n\r\ntoken="
    raw(served.url, b"POST /login HTTP/1.1\r\n" + headers, close_early=True)
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    raw(served.url, b"POST /api/ask HTTP/1.1\r\n" + auth + headers, close_early=True)
    counted = 'neonblue_api_requests_total{endpoint="ask",outcome="disconnected"}'
    deadline = time.monotonic() + 10
    while counted not in httpx.get(f"{served.url}/metrics", headers=AUTH, timeout=10).text:
        assert time.monotonic() < deadline, "the request that left was not counted as such"
        time.sleep(0.05)
    output = served.output()
    for failure in ("Traceback", "Exception in ASGI application", "ask failed"):
        assert failure not in output, output[-3000:]


def test_forms_are_bounded_also_when_chunked(served: Serve):
    body = b"token=" + b"a" * 100_000
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 8192]), body[i : i + 8192])
        for i in range(0, len(body), 8192)
    )
    answer = raw(
        served.url,
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"Form over 32768 bytes." in answer


def test_sign_in_does_not_quote_a_huge_or_strange_return_path(served: Serve):
    with httpx.Client(base_url=served.url, timeout=60) as client:
        page = client.get("/login", params={"next": "/" + HUGE})
        assert page.status_code == 200 and len(page.text) < 5000
        assert 'action="/login?next=/"' in page.text
        for strange in ("/\x1b[2J", "/\u202eevil", "//evil.example", "https://evil.example"):
            page = client.get("/login", params={"next": strange})
            assert 'action="/login?next=/"' in page.text, strange
        redirect = client.get("/", params={"q": HUGE})  # not signed in: to the login form
        assert redirect.status_code == 303
        assert redirect.headers["location"] == "/login?next=/"


def test_pages_show_control_characters_as_escapes(browser: httpx.Client, csrf: str):
    page = browser.get("/", params={"q": "a\x00b \x1b[31m \u202eevil"})
    assert page.status_code == 200 and not CONTROLS.search(page.text)
    assert "a\\u0000b \\u001b[31m \\u202eevil" in page.text
    decided = browser.post(
        "/approvals/%1b%5b2J%e2%80%ae",
        data={"csrf": csrf, "decision": "approve", "by": "eve"},
        follow_redirects=True,
    )
    assert decided.status_code == 200 and not CONTROLS.search(decided.text)
    assert "No recommendation \\u001b[2J\\u202e" in decided.text


def test_form_fields_with_control_characters_are_refused(browser: httpx.Client, csrf: str):
    uuid = "00000000-0000-0000-0000-000000000000"
    for field, value in [("by", "\x1b[2Jmallory"), ("by", "\u202eevolg"), ("note", "ok\x00")]:
        form = {"csrf": csrf, "decision": "approve", "by": "eve", field: value}
        refused = browser.post(f"/approvals/{uuid}", data=form)
        assert refused.status_code == 422, (field, value, refused.status_code)
        assert refusal(refused) == f"{field} must not contain control characters."
    asked = browser.post("/ask", data={"csrf": csrf, "question": "How is \x1b[31malpha?"})
    assert asked.status_code == 422
    multiline = browser.post("/ask", data={"csrf": csrf, "question": "How is\r\n\talpha doing?"})
    assert multiline.status_code == 200  # tabs and newlines are text


def test_dashboard_refusals_say_what_to_do(browser: httpx.Client):
    wrong_method = browser.get("/experiments/alpha/recommend")
    assert wrong_method.status_code == 405
    assert refusal(wrong_method) == "This address does not take GET requests."
    for path in ("/static/nope.css", "/static/%2e%2e/x.py", "/experiments/a/b", "/approvals/x/y"):
        missing = browser.get(path)
        assert missing.status_code == 404, path
        assert refusal(missing) == "No page at this address: start from Experiments (/).", path


def test_without_a_token_no_other_site_reaches_serve(open_serve: Serve):
    head = open_serve.health()["head"]
    url, port = open_serve.url, urlsplit(open_serve.url).port
    with httpx.Client(base_url=url, timeout=60) as client:
        # a page elsewhere posting a CORS-simple request (no preflight) to the loopback port
        forged = client.post(
            "/api/recommend",
            content=b'{"experiment": "alpha"}',
            headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        )
        assert forged.status_code == 403, forged.text[:300]
        assert forged.json()["kind"] == "forbidden"
        # DNS rebinding: the page's own name resolves to 127.0.0.1, so it is same-origin
        rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        rebinding = client.post("/api/recommend", json={"experiment": "alpha"}, headers=rebound)
        assert rebinding.status_code == 421, rebinding.text[:300]
        page = client.get("/ask", headers={"Host": f"evil.example:{port}"})
        assert page.status_code == 421 and "127.0.0.1 or localhost" in refusal(page)
        for origin in ("null", "http://[::1", "http://127.0.0.1.evil.example"):
            refused = client.post("/operations/verify", headers={"Origin": origin})
            assert refused.status_code == 403, (origin, refused.text[:300])
        assert open_serve.health()["head"] == head  # nothing was recorded

        # the CLI (no Origin) and serve's own pages (their own origin) still work
        assert client.get("/api/projections").status_code == 200
        assert client.get("/health", headers={"Host": f"localhost:{port}"}).status_code == 200
        asked = client.post(
            "/ask",
            data={"csrf": csrf_of(client, "/ask"), "question": "How is alpha doing?"},
            headers={"Origin": url},
        )
        assert asked.status_code == 200 and "alpha" in asked.text
