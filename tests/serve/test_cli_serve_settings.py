"""The CLI's own settings hold when a serve answers: the statistics engine the user chose,
the store the user named, and a token serve wants is asked for by name."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from domain.experiments.values import Variant
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.projections.scenario import METRICS
from tests.serve.conftest import TOKEN, env_for, neonblue, running_serve

KEY = "checkout-cta-contrast"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store holding one running experiment nobody has seen yet (serve starts quickly on
    it; its scorecard still names the engine that made it)."""
    data_dir = tmp_path / "data"
    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    variants = [Variant("control", "Control", 0.5), Variant("treatment", "New", 0.5)]
    app.create_experiment(KEY, "Checkout CTA", variants=variants, metrics=list(METRICS))
    app.start_experiment(KEY)
    app.close()
    return data_dir


def one_line(text: str) -> str:
    """stderr as one line (the console wraps long messages at its width)."""
    return " ".join(text.split())


def client_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a command; nothing of the test runner's engine or token."""
    env = env_for(data_dir, **extra)
    for name in ("NEONBLUE_STATS_ENGINE", "NEONBLUE_MCP_TOKEN", "NEONBLUE_SERVE_URL"):
        if name not in extra:
            env.pop(name, None)
    return env


def test_the_engine_the_user_sets_is_used_through_serve(store: Path, tmp_path: Path):
    env = client_env(store)
    bogus_alone = neonblue({**env, "NEONBLUE_STATS_ENGINE": "bogus"}, "results", KEY, cwd=tmp_path)
    assert bogus_alone.returncode == 2, bogus_alone.stderr  # without serve: refused

    def engine(*args: str, **extra: str) -> str:
        done = neonblue({**env, **extra}, "results", KEY, "--json", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["engine"]

    with running_serve({**env, "NEONBLUE_STATS_ENGINE": "frequentist"}, tmp_path) as serve:
        assert engine() == "frequentist"  # the user sets nothing: serve's default
        assert engine(NEONBLUE_STATS_ENGINE="bayesian") == "bayesian"
        assert engine("--engine", "sequential", NEONBLUE_STATS_ENGINE="bayesian") == "sequential"
        for command in ("results", "segments"):  # refused as without serve
            bogus = neonblue({**env, "NEONBLUE_STATS_ENGINE": "bogus"}, command, KEY, cwd=tmp_path)
            assert bogus.returncode == 2, (command, bogus.stdout)
            assert one_line(bogus.stderr) == one_line(bogus_alone.stderr), command

        # recommend's and ask's analyses run in serve, with the engine the user chose
        def analysed_with(*command: str, **chosen: str) -> set[str]:
            done = neonblue({**env, **chosen}, *command, "--json", cwd=tmp_path)
            assert done.returncode == 0 and not done.stderr.strip(), done.stderr
            answer = json.loads(done.stdout)
            calls = answer.get("tool_calls") or answer.get("sources") or []
            return {
                (c.get("arguments") or {}).get("engine") or "default"
                for c in calls
                if c["tool"] == "analyze_experiment_data"
            }

        recommend, ask = ("recommend", KEY), ("ask", f"How is {KEY} doing?")
        assert analysed_with(*recommend) == {"frequentist"}  # serve's default
        assert analysed_with(*recommend, NEONBLUE_STATS_ENGINE="sequential") == {"sequential"}
        assert analysed_with(*recommend, NEONBLUE_AGENT_ENGINE="bayesian") == {"bayesian"}
        assert analysed_with(*ask) == {"default"}  # the servers' own
        assert analysed_with(*ask, NEONBLUE_STATS_ENGINE="bayesian") == {"bayesian"}
        for path in ("/api/recommend", "/api/ask"):
            body = {"experiment": KEY, "question": "x", "engine": "x"}
            bad = httpx.post(f"{serve.url}{path}", json=body)
            assert bad.status_code == 400 and "engine must be one of" in bad.text, path


def test_a_serve_of_another_store_is_refused(store: Path, tmp_path: Path):
    other = tmp_path / "other"
    with running_serve(client_env(store), tmp_path) as serve:
        elsewhere = client_env(other, NEONBLUE_SERVE_URL=serve.url)
        for args in (("projections", "status"), ("results", KEY)):
            refused = neonblue(elsewhere, *args, cwd=tmp_path)
            assert refused.returncode == 2, (args, refused.stdout)
            message = one_line(refused.stderr)
            assert message.startswith("configuration error:"), message
            assert f"serves store sqlite:{store}/events.db" in message
            assert f"your settings name store sqlite:{other}/events.db" in message
            assert "unset NEONBLUE_SERVE_URL" in message
        same = neonblue(client_env(store, NEONBLUE_SERVE_URL=serve.url), "projections",
                        "status", "--json", cwd=tmp_path)  # fmt: skip
        assert same.returncode == 0, same.stderr


def test_a_token_serve_wants_is_asked_for_by_name(store: Path, tmp_path: Path):
    env = client_env(store)
    with running_serve({**env, "NEONBLUE_MCP_TOKEN": TOKEN}, tmp_path) as serve:
        missing = neonblue(env, "results", KEY, cwd=tmp_path)
        assert missing.returncode == 2, missing.stdout
        message = one_line(missing.stderr)
        assert f"`neonblue serve` at {serve.url} requires a bearer token" in message
        assert "NEONBLUE_MCP_TOKEN is not set here: set NEONBLUE_MCP_TOKEN" in message
        wrong = neonblue({**env, "NEONBLUE_MCP_TOKEN": "x" * len(TOKEN)}, "results", KEY,
                         cwd=tmp_path)  # fmt: skip
        assert wrong.returncode == 2, wrong.stdout
        assert f"at {serve.url} refused the bearer token" in one_line(wrong.stderr)
        right = neonblue({**env, "NEONBLUE_MCP_TOKEN": TOKEN}, "projections", "status",
                         cwd=tmp_path)  # fmt: skip
        assert right.returncode == 0, right.stderr
        # commands whose agents call serve's MCP mounts say the same, not the client's error
        for command in (("optimize", "run", "--once"), ("route", '{"event_type": "x"}')):
            refused = neonblue(env, *command, cwd=tmp_path)
            assert refused.returncode == 2, (command, refused.stdout)
            assert "requires a bearer token" in one_line(refused.stderr), command
            assert "Traceback" not in refused.stderr
