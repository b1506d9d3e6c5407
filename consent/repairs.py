"""Credit repair (信用修复, REP-1 to REP-13): who may apply when, by which methods, and the agency's decision.

    submitted ──decide──> repaired (no third party receives the record any more) | refused (the person is told why)

An application goes to the agency that produced the record (谁产生、谁负责) and only that agency may decide
it, within a period of working days that is data with its reason (``consent/data/repairs.json``), as are the
methods (REP-4, REP-5) and the effects (REP-8). Whether a record may be repaired, and from when, is the
catalogue's (``repairable``, ``min_period_before_repair``). Repair is free (REP-10): there is no fee, and
nothing here asks for one. The texts (statement, commitment, evidence, the agency's reason) are sealed by
the vault; this module touches only the plain columns.
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
from audit.tags import Tag
from audit.tx import Tx
from consent import applications
from consent.catalogue import Catalogue, Category, Polarity
from consent.entry import window_end
from consent.errors import NotRepairable, RepairsInvalid, RepairStepOutOfOrder, RepairTooEarly, RequestInvalid
from vault.errors import RecordConflict, RecordNotFound, RepairNotFound
from vault.models import Record, Repair, Subject

SUBMITTED, REPAIRED, REFUSED = "submitted", "repaired", "refused"
OUTCOMES = (REPAIRED, REFUSED)
STATUSES = (SUBMITTED, *OUTCOMES)
EFFECTS = ("stop_sharing", "mask", "delete", "mark")


@dataclass(frozen=True, slots=True)
class Method:
    """One way to repair (REP-4, REP-5), with its reason."""

    code: str
    zh: str
    en: str
    reason: str


@dataclass(frozen=True, slots=True)
class RepairRules:
    """The decision's period, the methods and the effects, each with its reason."""

    version: str
    basis: str
    decide_days: int
    decide_reason: str
    decide_confirmed: bool
    methods: Mapping[str, Method]
    effects: Mapping[str, str]

    def deadline(self, submitted: date) -> date:
        """Return the last working day on which an application submitted on `submitted` (CST) may be decided."""
        return window_end(submitted, self.decide_days)

    def to_public(self) -> dict[str, Any]:
        """Return the rules as published (internal notes left out). There is no fee: repair is free (REP-10)."""
        return {
            "version": self.version,
            "basis": self.basis,
            "free_of_charge": True,
            "decide": {"working_days": self.decide_days, "reason": self.decide_reason,
                       "confirmed": self.decide_confirmed},
            "methods": [{"code": m.code, "zh": m.zh, "en": m.en, "reason": m.reason} for m in self.methods.values()],
            "effects": [{"code": c, "reason": r} for c, r in self.effects.items()],
        }


def parse_rules(raw: Mapping[str, Any]) -> RepairRules:
    """Return the rules of a repairs file; raise RepairsInvalid naming what is wrong."""
    try:
        days = raw["decide"]["working_days"]
        if type(days) is not int or not 0 < days <= 60:
            raise RepairsInvalid("decide.working_days must be 1 to 60 working days")
        methods = {}
        for item in raw["methods"]:
            if not str(item["reason"]).strip():
                raise RepairsInvalid(f"methods.{item['code']}.reason is empty")
            methods[item["code"]] = Method(item["code"], item["zh"], item["en"], item["reason"])
        if not methods:
            raise RepairsInvalid("methods is empty")
        effects = {item["code"]: item["reason"] for item in raw["effects"]}
        if set(effects) != set(EFFECTS):
            raise RepairsInvalid(f"effects must be exactly {', '.join(EFFECTS)}")
        if any(not str(r).strip() for r in effects.values()):
            raise RepairsInvalid("an effect's reason is empty")
        if any("fee" in key for key in raw):
            raise RepairsInvalid("repair is free of charge (REP-10): no fee may be set")
        return RepairRules(str(raw["version"]), str(raw["basis"]), days, str(raw["decide"]["reason"]),
                           bool(raw["decide"]["confirmed"]), MappingProxyType(methods), MappingProxyType(effects))
    except (KeyError, TypeError) as exc:
        raise RepairsInvalid(f"malformed repairs file: {exc!r}") from exc


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (resources.files("consent") / "data" / "repairs.json").read_text(encoding="utf-8"))
    return loaded


def load_default_rules() -> RepairRules:
    """Return the shipped rules (``consent/data/repairs.json``)."""
    return parse_rules(_shipped())


# --- whether a record may be repaired ---------------------------------------------------------------


def repairability(category: Category, decided: date, rules: RepairRules) -> dict[str, Any] | None:
    """Return whether, from when and how a negative record may be repaired (REP-13); None for other records."""
    if category.polarity is not Polarity.NEGATIVE:
        return None
    if not category.repairable:
        return {"repairable": False, "basis": category.legal_basis}
    earliest = category.earliest_repair(decided)
    return {"repairable": True, "from": None if earliest is None else earliest.isoformat(),
            "methods": list(rules.methods), "free_of_charge": True, "apply_at": "/api/v1/me/repairs"}


def check_methods(rules: RepairRules, methods: Sequence[str]) -> None:
    """Raise RequestInvalid unless every method is one of the published list, each named once."""
    if not methods:
        raise RequestInvalid("methods", "name at least one method")
    if len(set(methods)) != len(methods):
        raise RequestInvalid("methods", "a method is named twice")
    for n, code in enumerate(methods):
        if code not in rules.methods:
            raise RequestInvalid(f"methods.{n}", f"must be one of {', '.join(rules.methods)}")


@dataclass(frozen=True, slots=True)
class Eligible:
    """A record of the person's that may be repaired today: its producing agency."""

    record_id: str
    provider_id: str


def check_eligible(tx: Tx, catalogue: Catalogue, subject_ref: str, record_id: str) -> Eligible:
    """Return the record if the person may apply for its repair today.

    Raises RecordNotFound (not theirs), RecordConflict (revoked or already repaired), NotRepairable (its
    category, citing the basis) or RepairTooEarly (with the earliest date).
    """
    row = tx.session.execute(
        select(Record.provider_id, Record.category, Record.status, Record.decided_at, Record.repaired_at)
        .join(Subject, Subject.id == Record.subject_id)
        .where(Record.id == record_id, Subject.subject_ref == subject_ref, Record.erased_at.is_(None))).one_or_none()
    if row is None:
        raise RecordNotFound(record_id)
    if row.status != "active":
        raise RecordConflict(f"record {record_id} is {row.status}: there is nothing left to repair")
    if row.repaired_at is not None:
        raise RecordConflict(f"record {record_id} is already repaired")
    category = catalogue.category(row.category)
    if category.polarity is not Polarity.NEGATIVE or not category.repairable:
        raise NotRepairable(category.code, category.legal_basis)
    earliest = category.earliest_repair(row.decided_at)
    if earliest is not None and tx.today < earliest:
        raise RepairTooEarly(earliest)
    return Eligible(record_id, row.provider_id)


# --- the applications -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepairView:
    """An application's plain columns, never its texts."""

    id: str
    record_id: str
    subject_ref: str
    provider_id: str
    status: str
    methods: str
    submitted_at: datetime
    decide_by: date
    decided_at: datetime | None
    effect: str | None
    overdue_recorded: bool
    category: str
    record_decided_at: date

    @property
    def method_codes(self) -> list[str]:
        return self.methods.split(",") if self.methods else []

    def overdue_on(self, today: date) -> bool:
        """Tell whether the decision is still waiting after its deadline on `today` (CST)."""
        return self.status == SUBMITTED and today > self.decide_by


_VIEW = (select(Repair.id, Repair.record_id, Subject.subject_ref, Repair.provider_id, Repair.status, Repair.methods,
                Repair.submitted_at, Repair.decide_by, Repair.decided_at, Repair.effect, Repair.overdue,
                Record.category, Record.decided_at)
         .join(Subject, Subject.id == Repair.subject_id).join(Record, Record.id == Repair.record_id))


def _view(row: Any) -> RepairView:
    return RepairView(*row)


def get_for_agency(tx: Tx, repair_id: str, provider_id: str) -> RepairView:
    """Return the agency's application; RepairNotFound for any other agency's (it must not learn of it)."""
    row = tx.session.execute(_VIEW.where(Repair.id == repair_id, Repair.provider_id == provider_id)).first()
    if row is None:
        raise RepairNotFound(repair_id)
    return _view(row)


def get_for_person(tx: Tx, repair_id: str, subject_ref: str) -> RepairView:
    """Return the person's own application; RepairNotFound otherwise."""
    row = tx.session.execute(_VIEW.where(Repair.id == repair_id, Subject.subject_ref == subject_ref)).first()
    if row is None:
        raise RepairNotFound(repair_id)
    return _view(row)


def list_for_person(tx: Tx, subject_ref: str) -> list[RepairView]:
    """Return the person's applications, newest first."""
    rows = tx.session.execute(_VIEW.where(Subject.subject_ref == subject_ref)
                              .order_by(Repair.submitted_at.desc(), Repair.id))
    return [_view(r) for r in rows]


def queue(tx: Tx, provider_id: str, status: str | None) -> list[RepairView]:
    """Return the agency's applications (of one status, or the open ones), the oldest deadline first."""
    rows = tx.session.execute(_VIEW.where(Repair.provider_id == provider_id, Repair.status == (status or SUBMITTED))
                              .order_by(Repair.decide_by, Repair.submitted_at, Repair.id))
    return [_view(r) for r in rows]


def decide(tx: Tx, view: RepairView, outcome: str, effect: str | None) -> None:
    """Close a submitted application with its outcome, or raise RepairStepOutOfOrder naming its status.

    A conditional UPDATE: of two decisions at once, the second finds the status changed. The reason is
    sealed, and the record marked, by the vault with its own entry.
    """
    if view.status != SUBMITTED:
        raise RepairStepOutOfOrder(view.id, view.status)
    applications.move(tx, Repair, view.id, SUBMITTED, lambda now: RepairStepOutOfOrder(view.id, now),
                      status=outcome, decided_at=tx.now, effect=effect)


def overdue(session: Any, today: date, provider_id: str | None = None) -> list[RepairView]:
    """Return every open application whose decision deadline passed before `today` (CST)."""
    query = _VIEW.where(Repair.status == SUBMITTED, Repair.decide_by < today)
    if provider_id is not None:
        query = query.where(Repair.provider_id == provider_id)
    return [_view(r) for r in session.execute(query.order_by(Repair.decide_by, Repair.id))]


def record_overdue(tx: Tx) -> list[RepairView]:
    """Record an audit entry for each application past its deadline not recorded yet (REP-14)."""
    found = []
    for view in overdue(tx.session, tx.today):
        if view.overdue_recorded:
            continue
        tx.session.execute(update(Repair).where(Repair.id == view.id).values(overdue=True)
                           .execution_options(synchronize_session=False))
        tx.record(Tag.REPAIR_OVERDUE, subject_ref=view.subject_ref, record_ids=[view.record_id], detail={
            "repair_id": view.id, "institution": view.provider_id, "deadline": view.decide_by.isoformat(),
            "days_late": (tx.today - view.decide_by).days})
        found.append(view)
    return found


# On the driver's cursor (audit.dbapi): the person's own report asks on every request, and SQLAlchemy's
# expanding IN list cost more than the statement. One text per number of records.
@lru_cache(maxsize=256)
def _open_for_records(records: int) -> dbapi.Statement:
    return dbapi.expanded("SELECT record_id, id FROM repairs WHERE record_id IN ({ids}) AND status = :status",
                          ids=records)


def open_for_records(tx: Tx, record_ids: Sequence[str]) -> dict[str, str]:
    """Return the id of the open application of each record named that has one."""
    if not record_ids:
        return {}
    rows = dbapi.execute(tx.session.connection(), _open_for_records(len(record_ids)),
                         {"status": SUBMITTED, **dbapi.listed("ids", record_ids)})
    return {record_id: repair_id for record_id, repair_id in rows}
