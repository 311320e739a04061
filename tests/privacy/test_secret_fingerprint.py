"""An event store keeps the fingerprint of the secret its pseudonyms were made with and
refuses any other (a second pseudonym per user would make `forget` miss the first); an
access request for a user the store holds nothing about says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infrastructure.bootstrap import bootstrap, build_app
from infrastructure.privacy.secret import fingerprint, platform_secret
from infrastructure.settings import ConfigurationError, EventStoreSettings
from infrastructure.settings.privacy import SECRET_FILE, PrivacySettings
from tests.privacy.scenario import ingest_portfolio
from tests.privacy.test_forget_crash import _cli
from tests.support.serve import env_for
from tests.support.stores import store_url

FIRST = "the-first-secret-0123456789"


def secret_of(store: EventStoreSettings, secret: str) -> bytes:
    app = build_app(store)
    try:
        return platform_secret(app, PrivacySettings(privacy_secret=secret))
    finally:
        app.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_store_refuses_a_secret_other_than_its_first(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = EventStoreSettings(data_dir=tmp_path, event_store=store_url(kind, tmp_path, request))
    assert secret_of(store, FIRST) == FIRST.encode()
    assert secret_of(store, FIRST) == FIRST.encode()  # the same one, again: fine
    for other in ("another-secret-0123456789", ""):  # "": the store's generated one
        with pytest.raises(ConfigurationError) as refused:
            secret_of(store, other)
        message = str(refused.value)
        assert f"made with (fingerprint {fingerprint(FIRST.encode())})" in message
        assert FIRST not in message  # names the secret without revealing it


def test_a_lost_secret_file_is_refused_not_replaced_silently(tmp_path: Path) -> None:
    store = EventStoreSettings(data_dir=tmp_path, event_store="")
    generated = secret_of(store, "")
    (tmp_path / SECRET_FILE).unlink()  # e.g. a restore of the database without its secret
    with pytest.raises(ConfigurationError, match="not the one this event store's pseudonyms"):
        secret_of(store, "")
    (tmp_path / SECRET_FILE).write_bytes(generated)  # restored: works again
    assert secret_of(store, "") == generated


def test_access_requests_with_a_wrong_secret_or_an_unknown_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(tmp_path, NEONBLUE_SERVE_DISCOVER="false", NEONBLUE_PRIVACY_SECRET=FIRST)
    monkeypatch.setenv("NEONBLUE_PRIVACY_SECRET", FIRST)
    with bootstrap(EventStoreSettings(data_dir=tmp_path, event_store="")) as services:
        user_id = ingest_portfolio(services).user_id

    held = _cli(env, "privacy", "export", user_id)
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["status"] == "held"

    wrong = _cli(
        {**env, "NEONBLUE_PRIVACY_SECRET": "not-the-secret-0123456789"},
        "privacy",
        "export",
        user_id,
    )
    assert wrong.returncode == 2 and "configuration error" in wrong.stderr
    assert "pseudonyms were made with" in wrong.stderr and "Traceback" not in wrong.stderr

    unknown = _cli(env, "privacy", "export", "no-such-user")
    assert unknown.returncode == 0, unknown.stderr
    assert json.loads(unknown.stdout)["status"] == "none"
    assert "Nothing is held about no-such-user" in unknown.stderr
