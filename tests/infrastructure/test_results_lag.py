"""`neonblue results` says when the analytics model is behind the log (e.g. a projection
stuck under `serve`): the scorecard would otherwise read as complete."""

from __future__ import annotations

from infrastructure.read_side import lag_notice


def test_a_model_behind_the_log_is_named_with_what_it_leaves_out() -> None:
    notice = lag_notice({"scorecard": {}, "position": 0, "head": 120_725})
    assert notice is not None
    assert "as of log position 0" in notice and "the log is at 120,725" in notice
    assert "120,725 newer event(s)" in notice and "neonblue projections status" in notice


def test_a_caught_up_model_says_nothing() -> None:
    assert lag_notice({"scorecard": {}, "position": 500, "head": 500}) is None


def test_an_answer_without_positions_says_nothing() -> None:
    """An older serve answers without ``head``: no guess."""
    assert lag_notice({"scorecard": {}, "position": 3}) is None
    assert lag_notice({"scorecard": {}, "position": None, "head": 9}) is None
