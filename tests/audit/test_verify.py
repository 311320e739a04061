"""`audit verify` finds any altered byte, deleted event or reordering, with its position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.experiments.aggregate import experiment_id
from infrastructure.application import NeonBlue
from infrastructure.audit.chain import HEADER_LENGTH, split_state
from infrastructure.audit.checkpoints import new_checkpoint
from infrastructure.audit.verify import verify_log
from infrastructure.bootstrap import build_app
from tests.audit.scenario import populate, stream_positions
from tests.audit.tampering import RawLog

KEY = b"operator-key-for-tests"


def checkpoint_now(app: NeonBlue):
    report = verify_log(app.recorder)
    assert report.ok, report.findings
    return new_checkpoint(
        report.last_position, report.events, report.running_hash, datetime.now(UTC), KEY
    )


def test_a_clean_log_verifies_on_every_store(app: NeonBlue):
    populate(app)
    report = verify_log(app.recorder)
    assert report.ok, report.findings
    assert report.events == app.head() == len(list(app.log()))
    assert report.last_position == app.head()


def test_stored_states_carry_the_chain_and_events_load_unchanged(app: NeonBlue):
    populate(app)
    positions = stream_positions(app, "checkout", "u1")
    notifications = app.recorder.select_notifications(start=positions[0], limit=1)
    seal, payload = split_state(notifications[0].state)
    assert seal is not None and seal.prev_hash == bytes(32)  # a creation event: genesis
    assert b"_chain" not in payload
    assert not hasattr(app.participation("checkout", "u1"), "_chain")
    assert "_chain" not in vars(next(iter(app.log())).event)


def test_every_single_byte_change_is_detected_at_its_position(durable_app, raw_log: RawLog):
    populate(durable_app)
    target = stream_positions(durable_app, "checkout", "u2")[1]  # an Exposed event
    length = len(raw_log.state(target))
    offsets = range(length) if raw_log.kind == "sqlite" else [*range(0, length, 7), length - 1]
    for offset in offsets:
        original = raw_log.flip_byte(target, offset)
        report = verify_log(durable_app.recorder)
        raw_log.set_state(target, original)
        assert report.first is not None, f"byte {offset} of {length} changed unnoticed"
        assert report.first.position == target
        assert report.first.kind in ("altered", "unchained")
    assert verify_log(durable_app.recorder).ok
    assert length > HEADER_LENGTH


def test_a_deleted_event_is_reported_where_its_stream_breaks(durable_app, raw_log: RawLog):
    populate(durable_app)
    first, second, third = stream_positions(durable_app, "checkout", "u3")[:3]
    raw_log.delete(second)
    report = verify_log(durable_app.recorder)
    assert report.first is not None and report.first.kind == "deleted"
    assert report.first.position == third
    assert f"between positions {first} and {third}" in report.first.message


def test_deleting_a_creation_event_is_detected(durable_app, raw_log: RawLog):
    populate(durable_app)
    created, exposed = stream_positions(durable_app, "checkout", "u0")[:2]
    raw_log.delete(created)
    report = verify_log(durable_app.recorder)
    assert report.first is not None and (report.first.position, report.first.kind) == (
        exposed,
        "deleted",
    )


def test_swapping_two_states_is_detected_at_the_first(durable_app, raw_log: RawLog):
    populate(durable_app)
    a = stream_positions(durable_app, "checkout", "u1")[2]
    b = stream_positions(durable_app, "checkout", "u4")[2]
    raw_log.swap_states(a, b)
    report = verify_log(durable_app.recorder)
    assert {f.position for f in report.findings if f.kind == "altered"} >= {a, b}
    assert report.first is not None and report.first.position == min(a, b)


def test_swapping_positions_within_a_stream_is_a_reordering(durable_app, raw_log: RawLog):
    populate(durable_app)
    positions = stream_positions(durable_app, "checkout", "u2")
    raw_log.swap_positions(positions[1], positions[2])
    report = verify_log(durable_app.recorder)
    assert report.first is not None and report.first.kind == "reordered"
    assert report.first.position == positions[1]  # where version 3 now comes too early
    assert len(report.findings) == 1


def test_swapping_positions_across_streams_fails_the_checkpoint(durable_app, raw_log: RawLog):
    populate(durable_app)
    checkpoint = checkpoint_now(durable_app)
    a = stream_positions(durable_app, "checkout", "u1")[-1]
    b = stream_positions(durable_app, "checkout", "u2")[0]
    assert a < b  # each stream keeps its own order; only the interleaving changes
    raw_log.swap_positions(a, b)
    assert verify_log(durable_app.recorder).ok  # each stream's chain is intact ...
    report = verify_log(durable_app.recorder, [checkpoint])
    assert [f.kind for f in report.findings] == ["checkpoint"]  # ... the log order is not
    assert report.first is not None and report.first.position == checkpoint.position


def test_deleting_the_newest_event_fails_the_checkpoint(durable_app, raw_log: RawLog):
    populate(durable_app)
    checkpoint = checkpoint_now(durable_app)
    raw_log.delete(durable_app.head())
    report = verify_log(durable_app.recorder, [checkpoint])
    assert report.first is not None and report.first.kind == "checkpoint"
    assert f"{checkpoint.count - 1} events now, {checkpoint.count} then" in report.first.message


def test_events_after_a_checkpoint_verify_against_it(app: NeonBlue):
    populate(app, "first")
    checkpoint = checkpoint_now(app)
    populate(app, "second")
    report = verify_log(app.recorder, [checkpoint])
    assert report.ok and report.checkpoints_checked == 1
    assert report.events > checkpoint.count


def test_appending_after_a_fresh_start_chains_to_the_stored_predecessor(durable_store):
    first = build_app(durable_store)
    populate(first)
    first.close()
    second = build_app(durable_store)  # empty hash cache: the predecessor is read from the recorder
    experiment = second.repository.get(experiment_id("checkout"))
    second.mapper.forget()
    experiment.resume(datetime.now(UTC))
    second.save(experiment)
    assert verify_log(second.recorder).ok
    second.close()


@pytest.mark.parametrize("replacement", [b"A", b"F", b" ", b"0"])
def test_a_header_byte_changed_to_any_value_is_detected(durable_app, raw_log: RawLog, replacement):
    populate(durable_app)
    target = stream_positions(durable_app, "checkout", "u1")[2]
    state = raw_log.state(target)
    offset = next(i for i in range(80, 140) if state[i : i + 1] in b"abcdef123456789")
    raw_log.set_state(target, state[:offset] + replacement + state[offset + 1 :])
    report = verify_log(durable_app.recorder)
    assert report.first is not None and report.first.position == target


def test_chains_survive_snapshots_and_a_failed_write(durable_store):
    """A stale cached hash (from a write that failed) is never used after a snapshot load."""
    from eventsourcing.persistence import IntegrityError

    writer, other = build_app(durable_store), build_app(durable_store)
    populate(writer, users=1)
    stale = writer.repository.get(experiment_id("checkout"))
    fresh = other.repository.get(experiment_id("checkout"))
    fresh.resume(datetime.now(UTC))
    other.save(fresh)  # the other process wins version N
    stale.resume(datetime.now(UTC))
    try:
        writer.save(stale)  # our version N fails, but its hash was cached
    except IntegrityError:
        pass
    else:
        raise AssertionError("the conflicting write should have failed")
    other.take_snapshot(experiment_id("checkout"))  # loading now skips version N's event
    experiment = writer.repository.get(experiment_id("checkout"))
    experiment.pause(datetime.now(UTC), "again")
    writer.save(experiment)
    assert verify_log(writer.recorder).ok
    writer.close()
    other.close()
