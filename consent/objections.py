"""Objections (异议, OBJ-1 to OBJ-4): the steps, who may take them, and their working-day deadlines.

    submitted ──accept──> accepted ──decide──> corrected | revoked | upheld
        └──────refuse───> refused (the person is told why)

An objection goes to the agency that produced the record (谁产生、谁负责) and only that agency may act
on it. Each step's period is data with its reason (``consent/data/objections.json``), counted in
working days by the Chinese calendar from the day the step opened; the deadline is the last day it
may be taken. While an objection is open the record is marked "under review" in every report that
releases it, and the categories the data names are not released to third parties at all until the
decision (核实期间暂不执行, OBJ-2). The texts (the person's reason, the agency's words, the evidence)
are sealed by the vault; this module touches only the plain columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update

from audit import dbapi
from audit.clock import CST
from audit.review import calendar_knows
from audit.tags import Tag
from audit.tx import Tx
from consent import applications
from consent.catalogue import Catalogue
from consent.entry import window_end
from consent.errors import EvidenceInvalid, ObjectionsInvalid, ObjectionStepOutOfOrder
from vault.errors import ObjectionNotFound
from vault.models import Objection, Subject
from vault.types import Evidence

SUBMITTED, ACCEPTED, REFUSED = "submitted", "accepted", "refused"
OUTCOMES = ("corrected", "revoked", "upheld")
OPEN = (SUBMITTED, ACCEPTED)
STATUSES = (SUBMITTED, ACCEPTED, REFUSED, *OUTCOMES)


@dataclass(frozen=True, slots=True)
class Period:
    """How long one step may take, in working days from the day the step opened, and why."""

    step: str
    opens_at: str
    working_days: int
    reason: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class EvidenceRule:
    """How much evidence an objection may carry, of which types, and why."""

    max_files: int
    max_total_bytes: int
    types: frozenset[str]
    reason: str


# The first bytes of each evidence type: a file is what its bytes say, whatever its name or declared type.
MAGIC: Mapping[str, tuple[bytes, ...]] = MappingProxyType({
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
})


def check_evidence(rule: EvidenceRule, files: Sequence[Evidence]) -> None:
    """Raise EvidenceInvalid unless the files keep the rule: count, total size, and types by their bytes."""
    if len(files) > rule.max_files:
        raise EvidenceInvalid("evidence", f"at most {rule.max_files} files: {rule.reason}")
    total = sum(len(f.content) for f in files)
    if total > rule.max_total_bytes:
        raise EvidenceInvalid("evidence", f"{total} bytes in all, more than {rule.max_total_bytes}: {rule.reason}")
    for n, f in enumerate(files):
        if f.content_type not in rule.types:
            raise EvidenceInvalid(f"evidence.{n}.content_type", f"must be one of {', '.join(sorted(rule.types))}")
        if not f.content.startswith(MAGIC[f.content_type]):
            raise EvidenceInvalid(f"evidence.{n}.content_base64",
                                  f"the file's bytes are not a {f.content_type} file")


@dataclass(frozen=True, slots=True)
class ObjectionRules:
    """The steps' periods and the categories withheld from third parties while disputed, with reasons."""

    version: str
    periods: Mapping[str, Period]
    withheld: Mapping[str, str]
    evidence: EvidenceRule

    @property
    def withheld_categories(self) -> frozenset[str]:
        return frozenset(self.withheld)

    def deadline(self, step: str, opened: date) -> date:
        """Return the last working day on which `step`, opened on `opened` (CST), may be taken."""
        return window_end(opened, self.periods[step].working_days)

    def to_public(self) -> dict[str, Any]:
        """Return the deadlines table as published (internal notes left out)."""
        return {
            "version": self.version,
            "steps": [{"step": p.step, "from": p.opens_at, "working_days": p.working_days, "reason": p.reason,
                       "confirmed": p.confirmed} for p in self.periods.values()],
            "withheld_while_disputed": [{"category": c, "reason": r} for c, r in self.withheld.items()],
            "evidence": {"max_files": self.evidence.max_files, "max_total_bytes": self.evidence.max_total_bytes,
                         "types": sorted(self.evidence.types), "reason": self.evidence.reason},
        }


def parse_rules(raw: Mapping[str, Any], catalogue: Catalogue) -> ObjectionRules:
    """Return the rules of an objections file; raise ObjectionsInvalid naming what is wrong."""
    try:
        periods = {}
        for item in raw["steps"]:
            days = item["working_days"]
            if type(days) is not int or not 0 < days <= 60:
                raise ObjectionsInvalid(f"steps.{item['step']}.working_days must be 1 to 60 working days")
            if not str(item["reason"]).strip():
                raise ObjectionsInvalid(f"steps.{item['step']}.reason is empty")
            periods[item["step"]] = Period(item["step"], item["from"], days, item["reason"], bool(item["confirmed"]))
        if set(periods) != {"accept", "decide", "correct"}:
            raise ObjectionsInvalid("steps must be exactly accept, decide and correct")
        withheld = {}
        for item in raw["withheld_while_disputed"]:
            if item["category"] not in catalogue.categories:
                raise ObjectionsInvalid(f"withheld_while_disputed: {item['category']} is not in the catalogue")
            if not str(item["reason"]).strip():
                raise ObjectionsInvalid(f"withheld_while_disputed.{item['category']}.reason is empty")
            withheld[item["category"]] = item["reason"]
        ev = raw["evidence"]
        types = frozenset(ev["types"])
        if not types <= set(MAGIC):
            raise ObjectionsInvalid(f"evidence.types: only {', '.join(sorted(MAGIC))} can be checked by their bytes")
        evidence = EvidenceRule(int(ev["max_files"]), int(ev["max_total_bytes"]), types, ev["reason"])
        return ObjectionRules(str(raw["version"]), MappingProxyType(periods), MappingProxyType(withheld), evidence)
    except (KeyError, TypeError) as exc:
        raise ObjectionsInvalid(f"malformed objections file: {exc!r}") from exc


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (resources.files("consent") / "data" / "objections.json").read_text(encoding="utf-8"))
    return loaded


def load_default_rules(catalogue: Catalogue) -> ObjectionRules:
    """Return the shipped rules (``consent/data/objections.json``), checked against the catalogue."""
    return parse_rules(_shipped(), catalogue)


# --- the steps --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectionView:
    """An objection's plain columns: its steps' dates and deadlines, never its texts."""

    id: str
    record_id: str
    subject_ref: str
    provider_id: str
    status: str
    submitted_at: datetime
    accept_by: date
    answered_at: datetime | None
    decide_by: date | None
    decided_at: datetime | None
    corrected_record_id: str | None
    overdue_step: str | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def open_step(self) -> str | None:
        """Return the step waiting to be taken, or None once the objection is closed."""
        return {SUBMITTED: "accept", ACCEPTED: "decide"}.get(self.status)

    @property
    def due(self) -> date | None:
        """Return the deadline of the step waiting to be taken."""
        return {SUBMITTED: self.accept_by, ACCEPTED: self.decide_by}.get(self.status)

    def overdue_on(self, today: date) -> bool:
        """Tell whether the waiting step's deadline has passed on `today` (CST)."""
        due = self.due
        return due is not None and today > due


_COLUMNS = (Objection.id, Objection.record_id, Subject.subject_ref, Objection.provider_id, Objection.status,
            Objection.submitted_at, Objection.accept_by, Objection.answered_at, Objection.decide_by,
            Objection.decided_at, Objection.corrected_record_id, Objection.overdue_step)
_VIEW = select(*_COLUMNS).join(Subject, Subject.id == Objection.subject_id)


def _view(row: Any) -> ObjectionView:
    return ObjectionView(*row)


def get_for_agency(tx: Tx, objection_id: str, provider_id: str) -> ObjectionView:
    """Return the agency's objection; ObjectionNotFound for any other agency's (it must not learn of it)."""
    row = tx.session.execute(_VIEW.where(Objection.id == objection_id, Objection.provider_id == provider_id)).first()
    if row is None:
        raise ObjectionNotFound(objection_id)
    return _view(row)


def get_for_person(tx: Tx, objection_id: str, subject_ref: str) -> ObjectionView:
    """Return the person's own objection; ObjectionNotFound otherwise."""
    row = tx.session.execute(_VIEW.where(Objection.id == objection_id, Subject.subject_ref == subject_ref)).first()
    if row is None:
        raise ObjectionNotFound(objection_id)
    return _view(row)


def list_for_person(tx: Tx, subject_ref: str) -> list[ObjectionView]:
    """Return the person's objections, newest first."""
    rows = tx.session.execute(_VIEW.where(Subject.subject_ref == subject_ref)
                              .order_by(Objection.submitted_at.desc(), Objection.id))
    return [_view(r) for r in rows]


def queue(tx: Tx, provider_id: str, status: str | None) -> list[ObjectionView]:
    """Return the agency's objections (of one status, or the open ones), the oldest deadline first."""
    wanted = (status,) if status is not None else OPEN
    rows = tx.session.execute(_VIEW.where(Objection.provider_id == provider_id, Objection.status.in_(wanted)))
    views = [_view(r) for r in rows]
    return sorted(views, key=lambda v: (v.due or date.max, v.submitted_at, v.id))


def _move(tx: Tx, view: ObjectionView, expected: str, **values: Any) -> None:
    """Move the objection on from `expected`, or raise ObjectionStepOutOfOrder naming the status it is in."""
    applications.move(tx, Objection, view.id, expected, lambda now: ObjectionStepOutOfOrder(view.id, now), **values)


def _require(view: ObjectionView, expected: str) -> None:
    if view.status != expected:
        raise ObjectionStepOutOfOrder(view.id, view.status)


def accept(tx: Tx, rules: ObjectionRules, view: ObjectionView) -> date:
    """Accept a submitted objection; return the deadline of the decision."""
    _require(view, SUBMITTED)
    decide_by = rules.deadline("decide", tx.today)
    _move(tx, view, SUBMITTED, status=ACCEPTED, answered_at=tx.now, decide_by=decide_by)
    tx.record(Tag.OBJECTION_ACCEPTED, subject_ref=view.subject_ref, record_ids=[view.record_id], detail={
        "objection_id": view.id, "institution": view.provider_id, "decide_by": decide_by.isoformat()})
    return decide_by


def refuse(tx: Tx, view: ObjectionView) -> None:
    """Refuse a submitted objection (the reason is sealed by the vault with its own entry)."""
    _require(view, SUBMITTED)
    _move(tx, view, SUBMITTED, status=REFUSED, answered_at=tx.now)


def decide(tx: Tx, view: ObjectionView, outcome: str, corrected_record_id: str | None = None) -> None:
    """Close an accepted objection with its outcome (the reason is sealed by the vault with its own entry)."""
    _require(view, ACCEPTED)
    _move(tx, view, ACCEPTED, status=outcome, decided_at=tx.now, corrected_record_id=corrected_record_id)


def check_may_decide(view: ObjectionView) -> None:
    """Raise ObjectionStepOutOfOrder unless the objection waits for its decision (before any change is made)."""
    _require(view, ACCEPTED)


def overdue(session: Any, today: date, provider_id: str | None = None) -> list[ObjectionView]:
    """Return every open objection whose waiting step's deadline passed before `today` (CST)."""
    query = _VIEW.where(Objection.status.in_(OPEN))
    if provider_id is not None:
        query = query.where(Objection.provider_id == provider_id)
    views = [_view(r) for r in session.execute(query)]
    return sorted((v for v in views if v.overdue_on(today)), key=lambda v: (v.due or date.max, v.id))


def record_overdue(tx: Tx) -> list[ObjectionView]:
    """Record an audit entry for each open step whose deadline has passed and was not recorded yet."""
    found = []
    for view in overdue(tx.session, tx.today):
        step = view.open_step
        if view.overdue_step == step:
            continue
        tx.session.execute(update(Objection).where(Objection.id == view.id).values(overdue_step=step)
                           .execution_options(synchronize_session=False))
        assert view.due is not None
        tx.record(Tag.OBJECTION_OVERDUE, subject_ref=view.subject_ref, record_ids=[view.record_id], detail={
            "objection_id": view.id, "institution": view.provider_id, "step": step,
            "deadline": view.due.isoformat(), "days_late": (tx.today - view.due).days})
        found.append(view)
    return found


def steps(view: ObjectionView, rules: ObjectionRules, today: date, agency_words: str | None) -> list[dict[str, Any]]:
    """Return each step of the objection: its date, its deadline, whether it is overdue, the agency's words."""
    def at(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(CST).date().isoformat()

    found: list[dict[str, Any]] = [{"step": "submitted", "status": "done", "date": at(view.submitted_at),
                                    "deadline": None}]
    accepting: dict[str, Any] = {"step": "accept", "deadline": view.accept_by.isoformat(),
                                 "date": at(view.answered_at), "working_days": rules.periods["accept"].working_days}
    if view.status == SUBMITTED:
        accepting["status"] = "overdue" if view.overdue_on(today) else "open"
    elif view.status == REFUSED:
        accepting.update(status="refused", words=agency_words)
    else:
        accepting["status"] = "accepted"
    found.append(accepting)
    if view.decide_by is not None:
        deciding: dict[str, Any] = {"step": "decide", "deadline": view.decide_by.isoformat(),
                                    "date": at(view.decided_at), "working_days": rules.periods["decide"].working_days}
        if view.status == ACCEPTED:
            deciding["status"] = "overdue" if view.overdue_on(today) else "open"
        else:
            deciding.update(status=view.status, words=agency_words)
        found.append(deciding)
    if view.status in ("corrected", "revoked") and view.decided_at is not None:
        decided = view.decided_at.astimezone(CST).date()
        found.append({"step": "correct", "status": "done", "date": decided.isoformat(),
                      "deadline": rules.deadline("correct", decided).isoformat(),
                      "working_days": rules.periods["correct"].working_days,
                      "corrected_record_id": view.corrected_record_id})
    return found


def calendar_note(day: date) -> str | None:
    """Return a note when a deadline falls in a year the holiday calendar does not know (Monday to Friday then)."""
    if calendar_knows(day):
        return None
    return (f"the holiday calendar for {day.year} is not published yet: working days are counted as Monday to "
            "Friday and the deadline may move when it is")


# On the driver's cursor (audit.dbapi): the person's own report asks on every request, and SQLAlchemy's
# expanding IN list cost more than the statement (which mostly finds nothing). The columns of _VIEW.
_OPEN_FOR_RECORDS = """
SELECT o.id, o.record_id, s.subject_ref, o.provider_id, o.status, o.submitted_at, o.accept_by, o.answered_at,
       o.decide_by, o.decided_at, o.corrected_record_id, o.overdue_step
FROM objections o JOIN subjects s ON s.id = o.subject_id
WHERE o.record_id IN ({ids}) AND o.status IN (:submitted, :accepted)"""


@lru_cache(maxsize=256)
def _open_for_records(records: int) -> dbapi.Statement:
    return dbapi.expanded(_OPEN_FOR_RECORDS, ids=records)


def open_for_records(tx: Tx, record_ids: Sequence[str]) -> dict[str, ObjectionView]:
    """Return the open objection of each record named that has one."""
    if not record_ids:
        return {}
    rows = dbapi.execute(tx.session.connection(), _open_for_records(len(record_ids)),
                         {"submitted": SUBMITTED, "accepted": ACCEPTED, **dbapi.listed("ids", record_ids)})
    read_time, read_date = dbapi.read_time, dbapi.read_date
    found = [ObjectionView(oid, record_id, ref, provider, status, dbapi.to_time(submitted), dbapi.to_date(accept_by),
                           read_time(answered), read_date(decide_by), read_time(decided), corrected, overdue)
             for (oid, record_id, ref, provider, status, submitted, accept_by, answered, decide_by, decided, corrected,
                  overdue) in rows]
    return {v.record_id: v for v in found}
