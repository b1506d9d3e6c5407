"""Review of the audit log (查询使用登记和审查, POLICY QRY-1 to QRY-3, AUD-3): search it, and find what stands out.

Registration is the log itself; review is what auditors do with it. This module reads entries by filter in
stable pages and finds the institutions whose queries look wrong: too many, too often refused, too often at
night or on holidays, or for a purpose their kind may not use. It is plain SQLAlchemy; the gateway passes in
what the audit package cannot know (which kinds each purpose allows, what kind each institution is).

Entries are immutable and numbered without gaps, so a page boundary is just a sequence number: a walk by
`seq` never shows an entry twice or skips one, however many entries are appended meanwhile.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

import chinese_calendar
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from audit.clock import isoformat_z
from audit.entries import AuditEntry
from audit.tags import Outcome, Tag
from audit.tx import STAFF_KEY

# Working hours are counted in China Standard Time (UTC+8 all year, no daylight saving).
CST = timezone(timedelta(hours=8), "CST")
WORKDAY_START = time(8)
WORKDAY_END = time(20)
QUERY_ACTIONS: tuple[str, ...] = (Tag.QUERY_RELEASED, Tag.QUERY_DENIED)
# A purpose-mismatch anomaly lists at most this many entry numbers; `value` still counts them all.
MAX_LISTED_ENTRIES = 1000
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which entries to read; every given condition must hold. None means "any"."""

    actor: str | None = None
    institution: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    subject_ref: str | None = None
    staff: str | None = None  # the member of staff who acted (entries' detail["staff"]); the org is the actor

    def describe(self) -> dict[str, str]:
        """Return the conditions given, as JSON data for the audit entry of the read."""
        found: dict[str, str] = {}
        for name in ("actor", "institution", "action", "outcome", "subject_ref", "staff"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        if self.since is not None:
            found["since"] = isoformat_z(self.since)
        if self.until is not None:
            found["until"] = isoformat_z(self.until)
        return found


@dataclass(frozen=True, slots=True)
class EntryView:
    """One audit entry as an auditor sees it: `index` is its leaf index in the Merkle tree (seq - 1)."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    subject_ref: str | None
    purpose: str | None
    basis: str | None
    record_ids: tuple[str, ...]
    outcome: str
    reason: str | None
    request_id: str | None
    detail: Mapping[str, Any]
    leaf_hash: bytes

    @property
    def index(self) -> int:
        return self.seq - 1


def _view(row: AuditEntry) -> EntryView:
    return EntryView(
        seq=row.seq, at=row.at, actor=row.actor, role=row.role, action=row.action, subject_ref=row.subject_ref,
        purpose=row.purpose, basis=row.basis, record_ids=tuple(row.record_ids), outcome=row.outcome,
        reason=row.reason, request_id=row.request_id, detail=dict(row.detail), leaf_hash=bytes(row.leaf_hash),
    )


def _institution_of_detail() -> ColumnElement[str]:
    found: ColumnElement[str] = AuditEntry.detail["institution"].as_string()
    return found


def _conditions(f: EntryFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if f.actor is not None:
        found.append(AuditEntry.actor == f.actor)
    if f.institution is not None:
        # An institution's own actions, and the ones about it (a person approving its request, a release to it).
        found.append(or_(AuditEntry.actor == f.institution, _institution_of_detail() == f.institution))
    if f.action is not None:
        if f.action.endswith(":"):
            found.append(AuditEntry.action.startswith(f.action, autoescape=True))
        else:
            found.append(AuditEntry.action == f.action)
    if f.outcome is not None:
        found.append(AuditEntry.outcome == f.outcome)
    if f.since is not None:
        found.append(AuditEntry.at >= f.since)
    if f.until is not None:
        found.append(AuditEntry.at < f.until)
    if f.subject_ref is not None:
        found.append(AuditEntry.subject_ref == f.subject_ref)
    if f.staff is not None:
        found.append(AuditEntry.detail[STAFF_KEY].as_string() == f.staff)
    return found


def _select(f: EntryFilter) -> Select[AuditEntry]:
    return select(AuditEntry).where(*_conditions(f))


def newest_first(session: Session, f: EntryFilter, *, before: int | None, limit: int) -> list[EntryView]:
    """Return up to `limit` matching entries, newest first, numbered below `before` (if given)."""
    query = _select(f)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = session.execute(query.order_by(AuditEntry.seq.desc()).limit(limit)).scalars()
    return [_view(row) for row in rows]


def oldest_first(session: Session, f: EntryFilter, *, after: int, upto: int, limit: int) -> list[EntryView]:
    """Return up to `limit` matching entries, oldest first, numbered after `after` and up to `upto`."""
    query = _select(f).where(AuditEntry.seq > after, AuditEntry.seq <= upto)
    rows = session.execute(query.order_by(AuditEntry.seq).limit(limit)).scalars()
    return [_view(row) for row in rows]


def count(session: Session, f: EntryFilter, *, upto: int | None = None) -> int:
    """Return how many entries match (numbered up to `upto`, if given)."""
    query = select(func.count()).select_from(AuditEntry).where(*_conditions(f))
    if upto is not None:
        query = query.where(AuditEntry.seq <= upto)
    return int(session.execute(query).scalar_one())


def last_seq(session: Session) -> int:
    """Return the number of the newest committed entry (0 for an empty log)."""
    return int(session.execute(select(func.coalesce(func.max(AuditEntry.seq), 0))).scalar_one())


# --- anomalies --------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    """Return whether `day` is a working day in mainland China, counting holidays and swapped weekends.

    chinesecalendar knows only the years whose holiday arrangements the State Council has published; outside
    them, Monday to Friday is assumed. Cached: chinesecalendar scans its whole table on every call.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def calendar_knows(day: date) -> bool:
    """Return whether chinesecalendar knows the holiday arrangements of `day`'s year (else Monday to Friday)."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_off_hours(at: datetime) -> bool:
    """Return whether `at` is outside 08:00-20:00 China Standard Time or on a day that is not a working day."""
    local = at.astimezone(CST)
    if not WORKDAY_START <= local.time() < WORKDAY_END:
        return True
    return not is_working_day(local.date())


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When an institution's queries stand out; from the gateway's settings."""

    volume_factor: float
    min_queries: int
    refusal_rate: float
    off_hours_share: float


@dataclass
class Activity:
    """The queries of one institution in a window."""

    queries: int = 0
    denied: int = 0
    off_hours: int = 0
    # (purpose or None, why it does not fit) -> entry numbers
    mismatched: dict[tuple[str | None, str], list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One thing that stands out about an institution, with the number that does and the rule it broke."""

    institution: str
    kind: str
    value: float
    threshold: float
    reason: str
    purpose: str | None = None
    entries: tuple[int, ...] | None = None
    step: str | None = None  # overdue: the objection and its step past its deadline
    objection_id: str | None = None
    deadline: date | None = None
    repair_id: str | None = None  # overdue: a repair application past its decision deadline


VOLUME, REFUSAL_RATE, OFF_HOURS, PURPOSE_MISMATCH = "volume", "refusal_rate", "off_hours", "purpose_mismatch"
OVERDUE = "overdue"  # an objection step or repair decision past its working-day deadline (the gateway adds these)
ANOMALY_KINDS = (VOLUME, REFUSAL_RATE, OFF_HOURS, PURPOSE_MISMATCH)


def _mismatch(purpose: str | None, action: str, kind: str | None,
              purpose_kinds: Mapping[str, frozenset[str]]) -> str | None:
    """Return why a query's purpose does not fit the institution's kind, or None if it does."""
    if purpose is None:
        # A refusal can come before any grant is found (an unknown consent id): it claimed no purpose.
        return None if action == Tag.QUERY_DENIED else "no purpose was recorded for a released report"
    allowed = purpose_kinds.get(purpose)
    if allowed is None:
        return f"purpose {purpose} is not a registered purpose"
    if kind not in allowed:
        what = "of no registered kind" if kind is None else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        return f"purpose {purpose} is for {' or '.join(sorted(allowed))} institutions, but this institution is {what}"
    return None


def _query_rows(session: Session, since: datetime, until: datetime) -> Iterator[Any]:
    query = (
        select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.outcome,
               AuditEntry.purpose, _institution_of_detail().label("institution"))
        .where(AuditEntry.action.in_(QUERY_ACTIONS), AuditEntry.at >= since, AuditEntry.at < until)
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=_BATCH)
    )
    yield from session.execute(query)


def query_activity(
    session: Session, since: datetime, until: datetime, purpose_kinds: Mapping[str, frozenset[str]],
    institution_kinds: Mapping[str, str | None],
) -> dict[str, Activity]:
    """Return the query activity of each institution that queried in [since, until).

    `purpose_kinds` maps each registered purpose to the institution kinds it allows; `institution_kinds` maps
    an institution to its current kind (an institution missing from it has no known kind).
    """
    found: dict[str, Activity] = {}
    for row in _query_rows(session, since, until):
        institution = row.institution or row.actor
        activity = found.setdefault(institution, Activity())
        activity.queries += 1
        if row.outcome == Outcome.DENIED:
            activity.denied += 1
        if is_off_hours(row.at):
            activity.off_hours += 1
        why = _mismatch(row.purpose, row.action, institution_kinds.get(institution), purpose_kinds)
        if why is not None:
            activity.mismatched.setdefault((row.purpose, why), []).append(int(row.seq))
    return found


def median_queries(activity: Mapping[str, Activity]) -> float:
    """Return the median number of queries over the institutions that queried (0 if none did)."""
    return float(statistics.median(a.queries for a in activity.values())) if activity else 0.0


def find_anomalies(activity: Mapping[str, Activity], limits: Thresholds) -> list[Anomaly]:
    """Return every anomaly of every institution, by institution then by kind."""
    median = median_queries(activity)
    volume_limit = max(float(limits.min_queries), limits.volume_factor * median)
    found: list[Anomaly] = []
    for institution in sorted(activity):
        found.extend(_anomalies_of(institution, activity[institution], limits, volume_limit, median))
    return found


def _anomalies_of(institution: str, a: Activity, limits: Thresholds, volume_limit: float,
                  median: float) -> Iterator[Anomaly]:
    if a.queries > volume_limit:
        yield Anomaly(institution, VOLUME, a.queries, volume_limit,
                      f"{a.queries} queries in the window, more than {volume_limit:g} (the larger of "
                      f"{limits.min_queries} and {limits.volume_factor:g} times the median of {median:g} "
                      "across institutions)")
    if a.queries >= limits.min_queries:
        refused = a.denied / a.queries
        if refused > limits.refusal_rate:
            yield Anomaly(institution, REFUSAL_RATE, round(refused, 4), limits.refusal_rate,
                          f"{a.denied} of {a.queries} queries were refused ({refused:.0%}), more than "
                          f"{limits.refusal_rate:.0%}")
        late = a.off_hours / a.queries
        if late > limits.off_hours_share:
            yield Anomaly(institution, OFF_HOURS, round(late, 4), limits.off_hours_share,
                          f"{a.off_hours} of {a.queries} queries were made outside 08:00-20:00 China Standard "
                          f"Time or on a day that is not a working day ({late:.0%}), more than "
                          f"{limits.off_hours_share:.0%}")
    for (purpose, why), seqs in sorted(a.mismatched.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        noun = "query does" if len(seqs) == 1 else "queries do"
        yield Anomaly(institution, PURPOSE_MISMATCH, len(seqs), 0,
                      f"{len(seqs)} {noun} not fit the institution's kind: {why}",
                      purpose=purpose, entries=tuple(seqs[:MAX_LISTED_ENTRIES]))
