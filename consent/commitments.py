"""Credit commitments (信用承诺, COM-1 to COM-5): standard templates per scenario, and their outcome.

    pending ──outcome──> fulfilled
                    └──> breached (made to an authority: a CREDIT_COMMITMENT_BREACH record, COM-1, COM-3)

A person signs a commitment online on a published template (``consent/data/commitments.json``: uniform in
form, differing by scenario, COM-2) to a body the template allows: an authority, or for an onboarding letter
an employer (COM-4). The body that accepted it records whether it was kept. A broken commitment made to an
authority becomes a record produced by that authority, which answers the person's objection or repair; one
made to an institution stays on the commitment (the data says why). The person's own words are sealed by the
vault; this module touches only the plain columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select

from audit.tx import Tx
from consent import applications
from consent.catalogue import Catalogue, Category
from consent.declarations import Words, check_breach_category
from consent.durations import Duration, add_duration, parse_duration
from consent.errors import CommitmentsInvalid, CommitmentStepOutOfOrder, RequestInvalid
from consent.fields import HIDDEN_CHARACTERS_REASON, hidden_characters
from consent.repairs import RepairRules
from vault.errors import CommitmentNotFound
from vault.models import Commitment, Subject

PENDING, FULFILLED, BREACHED = "pending", "fulfilled", "breached"
OUTCOMES = (FULFILLED, BREACHED)
STATUSES = (PENDING, *OUTCOMES)
ACCEPTING_ROLES = ("provider", "institution")
MAX_DETAILS = 1000


@dataclass(frozen=True, slots=True)
class Due:
    """Whether a template's commitment has a due date, the longest it may run, and why."""

    required: bool
    longest: Duration
    reason: str


@dataclass(frozen=True, slots=True)
class Template:
    """A standard commitment letter for one scenario (COM-1, COM-2)."""

    code: str
    scenario: str
    name: Words
    text_zh: str
    text_en: str
    accepted_by: tuple[str, ...]
    due: Due | None
    repair_method: str | None

    def to_public(self) -> dict[str, Any]:
        return {"code": self.code, "scenario": self.scenario, "zh": self.name.zh, "en": self.name.en,
                "reason": self.name.reason, "text": {"zh": self.text_zh, "en": self.text_en},
                "accepted_by": list(self.accepted_by), "repair_method": self.repair_method,
                "due": None if self.due is None else {"required": self.due.required,
                                                      "longest": self.due.longest.isoformat(),
                                                      "reason": self.due.reason}}


@dataclass(frozen=True, slots=True)
class CommitmentRules:
    """The templates, the category a broken commitment is recorded in, and what a breach does per body."""

    version: str
    basis: str
    templates: Mapping[str, Template]
    breach_category: str
    breach_document_type: str
    breach_reason: str
    breach_record: Mapping[str, str]

    def to_public(self) -> dict[str, Any]:
        """Return the templates as published (internal notes left out)."""
        return {"version": self.version, "basis": self.basis,
                "templates": [t.to_public() for t in self.templates.values()],
                "if_breached": {"category": self.breach_category, "reason": self.breach_reason,
                                "by_accepting_body": dict(self.breach_record)}}


def _template(item: Mapping[str, Any], breach: Category, repairs: RepairRules) -> Template:
    code = str(item["code"])
    # A template's scenario is the one its breach is recorded under: a value of the breach category's field.
    scenarios = next((f.enum for f in breach.fields if f.name == "scenario"), None)
    if scenarios is None or item["scenario"] not in scenarios:
        raise CommitmentsInvalid(f"templates.{code}.scenario is not a scenario of the catalogue")
    roles = tuple(item["accepted_by"])
    if not roles or not set(roles) <= set(ACCEPTING_ROLES):
        raise CommitmentsInvalid(f"templates.{code}.accepted_by must name {' or '.join(ACCEPTING_ROLES)}")
    method = item.get("repair_method")
    if method is not None and method not in repairs.methods:
        raise CommitmentsInvalid(f"templates.{code}.repair_method is not a method of the repairs file")
    due = None
    if item["due"] is not None:
        try:
            longest = parse_duration(item["due"]["max"])
        except ValueError as exc:
            raise CommitmentsInvalid(f"templates.{code}.due.max: {exc}") from exc
        due = Due(bool(item["due"]["required"]), longest, str(item["due"]["reason"]))
    name = Words(str(item["zh"]), str(item["en"]), str(item["reason"]))
    if not all(part.strip() for part in (name.zh, name.en, name.reason, item["text"]["zh"], item["text"]["en"])):
        raise CommitmentsInvalid(f"templates.{code}: names, text and reason must all be given")
    return Template(code, str(item["scenario"]), name, str(item["text"]["zh"]), str(item["text"]["en"]), roles, due,
                    method)


def parse_rules(raw: Mapping[str, Any], catalogue: Catalogue, repairs: RepairRules) -> CommitmentRules:
    """Return the rules of a commitments file checked against the catalogue and repairs; raise CommitmentsInvalid."""
    try:
        breach = raw["breach"]
        category = check_breach_category(catalogue, breach["category"], breach["document_type"], CommitmentsInvalid,
                                         "breach")
        templates = {t.code: t for t in (_template(item, category, repairs) for item in raw["templates"])}
        if not templates:
            raise CommitmentsInvalid("templates is empty")
        record = {role: str(raw["breach_record"][role]) for role in ACCEPTING_ROLES}
        return CommitmentRules(str(raw["version"]), str(raw["basis"]), MappingProxyType(templates),
                               str(breach["category"]), str(breach["document_type"]), str(breach["reason"]),
                               MappingProxyType(record))
    except (KeyError, TypeError) as exc:
        raise CommitmentsInvalid(f"malformed commitments file: {exc!r}") from exc


def load_default_rules(catalogue: Catalogue, repairs: RepairRules) -> CommitmentRules:
    """Return the shipped templates (``consent/data/commitments.json``), checked."""
    return parse_rules(applications.shipped("commitments.json"), catalogue, repairs)


def check_signing(rules: CommitmentRules, template_code: str, body_role: str | None, due: date | None,
                  today: date, details: str | None = None) -> Template:
    """Return the template if a commitment on it may be made to a body of `body_role` with `due` and `details`.

    Raises RequestInvalid naming the field: an unknown template, a body that is no client of a role the
    template allows (None: no such enabled client), details the breach record could not hold, a due date
    missing, not allowed, past or too far.
    """
    template = rules.templates.get(template_code)
    if template is None:
        raise RequestInvalid("template", f"must be one of {', '.join(rules.templates)}")
    if body_role not in template.accepted_by:
        raise RequestInvalid("accepting_body", f"a {template.code} commitment is made to a registered "
                                               f"{' or '.join(template.accepted_by)}")
    # Broken, the details become the breach record's "what was promised" (with the text): refuse here what that
    # record would refuse, or the body could never record the breach. The API's schema checks the same.
    if details is not None:
        if not 0 < len(details) <= MAX_DETAILS:
            raise RequestInvalid("details", f"must be 1 to {MAX_DETAILS} characters")
        if hidden_characters(details):
            raise RequestInvalid("details", HIDDEN_CHARACTERS_REASON)
    if template.due is None:
        if due is not None:
            raise RequestInvalid("due_date", f"a {template.code} commitment has no due date")
        return template
    if due is None:
        if template.due.required:
            raise RequestInvalid("due_date", f"a {template.code} commitment needs its due date: "
                                             f"{template.due.reason}")
        return template
    latest = add_duration(today, template.due.longest)
    if not today < due <= latest:
        raise RequestInvalid("due_date", f"must be after today and on or before {latest.isoformat()}: "
                                         f"{template.due.reason}")
    return template


# --- the commitments --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitmentView:
    """A commitment's plain columns, never the person's words."""

    id: str
    subject_ref: str
    template: str
    accepting_body: str
    body_role: str
    status: str
    signed_at: datetime
    due_date: date | None
    decided_at: datetime | None
    record_id: str | None


_VIEW = (select(Commitment.id, Subject.subject_ref, Commitment.template, Commitment.accepting_body,
                Commitment.body_role, Commitment.status, Commitment.signed_at, Commitment.due_date,
                Commitment.decided_at, Commitment.record_id)
         .join(Subject, Subject.id == Commitment.subject_id))


def _view(row: Any) -> CommitmentView:
    return CommitmentView(*row)


def get_for_person(tx: Tx, commitment_id: str, subject_ref: str) -> CommitmentView:
    """Return the person's own commitment; CommitmentNotFound otherwise."""
    row = tx.session.execute(_VIEW.where(Commitment.id == commitment_id, Subject.subject_ref == subject_ref)).first()
    if row is None:
        raise CommitmentNotFound(commitment_id)
    return _view(row)


def get_for_body(tx: Tx, commitment_id: str, body: str) -> CommitmentView:
    """Return a commitment made to `body`; CommitmentNotFound for any other (it must not learn of it)."""
    row = tx.session.execute(_VIEW.where(Commitment.id == commitment_id, Commitment.accepting_body == body)).first()
    if row is None:
        raise CommitmentNotFound(commitment_id)
    return _view(row)


def list_for_person(tx: Tx, subject_ref: str) -> list[CommitmentView]:
    """Return the person's commitments, newest first."""
    rows = tx.session.execute(_VIEW.where(Subject.subject_ref == subject_ref)
                              .order_by(Commitment.signed_at.desc(), Commitment.id))
    return [_view(r) for r in rows]


def for_body(tx: Tx, body: str, status: str | None) -> list[CommitmentView]:
    """Return the commitments made to `body` (the pending ones, or of one status), the earliest due first."""
    rows = tx.session.execute(_VIEW.where(Commitment.accepting_body == body, Commitment.status == (status or PENDING))
                              .order_by(Commitment.due_date, Commitment.signed_at, Commitment.id))
    return [_view(r) for r in rows]


def close(tx: Tx, view: CommitmentView, outcome: str) -> None:
    """Record a pending commitment's outcome, or raise CommitmentStepOutOfOrder naming its status."""
    if view.status != PENDING:
        raise CommitmentStepOutOfOrder(view.id, view.status)
    applications.move(tx, Commitment, view.id, PENDING, lambda now: CommitmentStepOutOfOrder(view.id, now),
                      status=outcome, decided_at=tx.now)
