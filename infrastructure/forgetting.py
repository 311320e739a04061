"""Forgetting a data subject everywhere: `neonblue privacy forget | export | retention`.

The procedure is ordered so that a kill at any point leaves the subject either fully
present or erased in the store, and a rerun completes it:

1. copies outside the log that only the raw id finds (dead letters, agent checkpoints)
   are deleted first, while the raw id can still be read from the subject's sealed data;
2. the commit point: the erasure event (carrying only the pseudonym) is appended and the
   subject's key deleted in one transaction; from here the log is unreadable for it;
3. the dead letters are searched again: ingest running in another process may have
   dead-lettered one of the user's messages between steps 1 and 2 (from then on their
   events are dropped before anything could reject them);
4. the read models follow the log and anonymise the subject's rows when they meet the
   erasure (here, or in `neonblue serve`, which follows the log anyway).

Every step is idempotent, so rerunning `forget` after a crash finishes the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infrastructure.bootstrap import Services
from infrastructure.ingest.tables import tables_for
from infrastructure.privacy.subjects import Activity, Subjects, build_subjects
from infrastructure.settings import ConfigurationError
from projections.generations import crash_point


class UnknownSubject(ConfigurationError):
    """Nothing is held about the user (no participation, no key, no erasure)."""


class LegacySubject(ConfigurationError):
    """The user's data predates protection: its ids are in the log in clear."""


@dataclass
class ForgetReport:
    pseudonym: str
    committed: bool  # False: the store already held the erasure (a rerun)
    dead_letters: int = 0
    checkpoint_threads: int = 0
    conversations: int = 0
    read_models: list[str] = field(default_factory=list)
    legacy_experiments: list[str] = field(default_factory=list)
    read_models_pending: str = ""  # why the read models are not updated yet (the erasure is)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def forget(
    services: Services,
    user_id: str | None = None,
    subject: str | None = None,
    reason: str = "erasure request",
    at: datetime | None = None,
    catch_up: bool = True,
) -> ForgetReport:
    """Forgets the user (or the pseudonym ``subject``); see the module docstring."""
    subjects = build_subjects(services.app)
    if subject is None:
        if user_id is None:
            raise ValueError("forget needs a user id or a pseudonym")
        subject = subjects.pseudonym(user_id)
    elif user_id is None:
        user_id = subjects.user_id(subject)
    legacy = subjects.legacy_experiments(user_id) if user_id else []
    held = subjects.key(subject) or subjects.participations(subject)
    if not held and not subjects.is_erased(subject):
        if legacy:
            raise LegacySubject(
                f"This user's data in {', '.join(legacy)} was stored before privacy protection "
                "(plain ids in the hash-chained log) and cannot be crypto-shredded; "
                "see README, Privacy, legacy data."
            )
        raise UnknownSubject(
            "Nothing is held about this user: no participation, no key, no erasure."
        )
    report = ForgetReport(subject, committed=False, legacy_experiments=legacy)
    report.dead_letters = _forget_letters(services, user_id)
    needles = [subject, *([user_id] if user_id else [])]
    report.checkpoint_threads = asyncio.run(_forget_checkpoints(services, needles))
    report.conversations = services.conversations().forget_mentions(needles)
    crash_point("privacy", "before-erase")
    report.committed = subjects.erase(subject, reason, at or datetime.now(UTC)).committed
    crash_point("privacy", "after-erase")
    report.dead_letters += _forget_letters(services, user_id)
    if catch_up:
        try:
            report.read_models = catch_up_read_models(services)
        except ConfigurationError as error:  # e.g. chDB held by another process: the erasure
            report.read_models_pending = str(error)  # stands; they apply it when they catch up
    return report


def _forget_letters(services: Services, user_id: str | None) -> int:
    """Deletes the dead letters whose message or key holds the raw id; how many."""
    if not user_id:
        return 0
    raw = user_id.encode()
    return tables_for(services.app).forget_letters(b'"' + raw + b'"', raw)


async def _forget_checkpoints(services: Services, needles: list[str]) -> int:
    from agents.common.checkpoints import forget_in_checkpoints

    return await forget_in_checkpoints(services.event_store, needles)


def catch_up_read_models(services: Services) -> list[str]:
    """Brings every read model to the log head (they anonymise erased subjects)."""
    models = services.read_models()
    for name in models.names:
        models.runner(name).catch_up()
    return list(models.names)


def export(services: Services, user_id: str) -> dict[str, Any]:
    """Everything held about the user, in JSON-ready form (an access request)."""
    subjects = build_subjects(services.app)
    held = subjects.export(user_id)
    raw = user_id.encode()
    letters = []
    for letter in tables_for(services.app).dead_letters(10_000):
        original = letter.original or b""
        if b'"' + raw + b'"' in original or letter.key == raw:
            letters.append(
                {
                    "source": list(letter.coordinates),
                    "kind": letter.kind,
                    "reason": letter.reason,
                    "original": original.decode("utf-8", "replace"),
                }
            )
    held["dead_letters"] = letters
    if held["status"] == "none" and letters:
        held["status"] = "held"
    return held


def retention(
    services: Services,
    older_than: timedelta,
    now: datetime | None = None,
    catch_up: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[ForgetReport]:
    """Forgets every subject whose last event is older than ``older_than``; ``progress``
    is called with (subjects done, subjects found idle) after each one."""
    subjects: Subjects = build_subjects(services.app)
    cutoff = (now or datetime.now(UTC)) - older_than
    activity = Activity(services.app)
    stale = [
        subject
        for subject, last in sorted(activity.refresh().items())
        if last < cutoff and not (subjects.is_erased(subject) and subjects.key(subject) is None)
    ]
    reports = []
    for done, subject in enumerate(stale, 1):
        if activity.refresh()[subject] < cutoff:  # else it came back while the run went on
            reason = f"retention: no event since {cutoff:%Y-%m-%d}"
            reports.append(forget(services, subject=subject, reason=reason, at=now, catch_up=False))
        if progress is not None:
            progress(done, len(stale))
    if reports and catch_up:
        catch_up_read_models(services)
    return reports
