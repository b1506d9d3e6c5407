"""Voluntary registration (自愿注册, VOL-1, DATA-7, AUTH-5): what a person may declare, and its verification.

    unverified ──verify──> verified (a record of its category, produced by the verifying agency)
                      └──> false    (a CREDIT_COMMITMENT_BREACH record: a false commitment, COM-3)

A person declares positive information in a category the data opens to it (``consent/data/declarations.json``),
with a commitment on its truthfulness and an authorisation to use it once verified. Until an agency competent
for the category verifies it, it is no record at all: it lives in its own table, so no report, list or
evaluation can reach it. The competent agency is one registered for the category whose agency role may file
it (谁主管、谁认定、谁负责) and that may also file the breach a false declaration becomes; it decides within a
period of working days that is data with its reason. The payload, the commitment and the evidence are sealed
by the vault; this module touches only the plain columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import or_, select, update

from audit.tags import Tag
from audit.tx import Tx
from consent import applications
from consent.applications import WorkingDays
from consent.catalogue import Catalogue, Category, Polarity
from consent.errors import ConsentError, DeclarationsInvalid, DeclarationStepOutOfOrder, NotDeclarable
from vault.errors import DeclarationNotFound
from vault.models import Declaration, Subject
from vault.types import Provider

UNVERIFIED, VERIFIED, FALSE = "unverified", "verified", "false"
OUTCOMES = (VERIFIED, FALSE)
STATUSES = (UNVERIFIED, *OUTCOMES)


@dataclass(frozen=True, slots=True)
class Declarable:
    """A category open to voluntary registration: the area of DATA-7 it belongs to, and why it is open."""

    category: str
    area: str
    reason: str


@dataclass(frozen=True, slots=True)
class Words:
    """A standard text the person accepts, in both languages, with why it is asked."""

    zh: str
    en: str
    reason: str

    def to_public(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class FalseFinding:
    """What a declaration found false becomes: a record of this category, breach kind and scenario."""

    category: str
    breach: str
    scenario: str
    document_type: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeclarationRules:
    """The categories open to declaration, the verification's period, the texts accepted, and a false one's fate."""

    version: str
    basis: str
    verify: WorkingDays
    categories: Mapping[str, Declarable]
    not_open: tuple[tuple[str, str], ...]
    commitment: Words
    authorisation: Words
    false_finding: FalseFinding

    def deadline(self, submitted: date) -> date:
        """Return the last working day (CST) on which a declaration made on `submitted` may be verified."""
        return self.verify.deadline(submitted)

    def to_public(self) -> dict[str, Any]:
        """Return the rules as published (internal notes left out)."""
        f = self.false_finding
        return {
            "version": self.version,
            "basis": self.basis,
            "verify": self.verify.to_public(),
            "categories": [{"category": d.category, "area": d.area, "reason": d.reason}
                           for d in self.categories.values()],
            "not_open": [{"area": area, "reason": reason} for area, reason in self.not_open],
            "commitment": self.commitment.to_public(),
            "authorisation": self.authorisation.to_public(),
            "if_found_false": {"category": f.category, "breach": f.breach, "reason": f.reason},
        }


def _words(raw: Mapping[str, Any], where: str) -> Words:
    found = Words(str(raw["zh"]), str(raw["en"]), str(raw["reason"]))
    if not all(part.strip() for part in (found.zh, found.en, found.reason)):
        raise DeclarationsInvalid(f"{where}: zh, en and reason must all be given")
    return found


def parse_rules(raw: Mapping[str, Any], catalogue: Catalogue) -> DeclarationRules:
    """Return the rules of a declarations file checked against the catalogue; raise DeclarationsInvalid."""
    try:
        categories = {}
        for item in raw["categories"]:
            category = catalogue.categories.get(item["category"])
            if category is None:
                raise DeclarationsInvalid(f"categories: {item['category']} is not in the catalogue")
            if category.polarity is Polarity.NEGATIVE:
                raise DeclarationsInvalid(f"categories: {category.code} is negative: only good or basic facts "
                                          "may be declared (VOL-1)")
            if not str(item["reason"]).strip():
                raise DeclarationsInvalid(f"categories.{category.code}.reason is empty")
            categories[category.code] = Declarable(category.code, str(item["area"]), str(item["reason"]))
        if not categories:
            raise DeclarationsInvalid("categories is empty")
        finding = _false_finding(raw["false_finding"], catalogue)
        return DeclarationRules(
            str(raw["version"]), str(raw["basis"]),
            applications.parse_working_days(raw["verify"], "verify", DeclarationsInvalid),
            MappingProxyType(categories), tuple((str(i["area"]), str(i["reason"])) for i in raw["not_open"]),
            _words(raw["commitment"], "commitment"), _words(raw["authorisation"], "authorisation"), finding)
    except (KeyError, TypeError) as exc:
        raise DeclarationsInvalid(f"malformed declarations file: {exc!r}") from exc


def _false_finding(raw: Mapping[str, Any], catalogue: Catalogue) -> FalseFinding:
    found = FalseFinding(str(raw["category"]), str(raw["breach"]), str(raw["scenario"]), str(raw["document_type"]),
                         str(raw["reason"]))
    check_breach_category(catalogue, found.category, found.document_type, DeclarationsInvalid, "false_finding")
    return found


def check_breach_category(catalogue: Catalogue, code: str, document_type: str,
                          invalid: type[ConsentError], where: str) -> Category:
    """Return the negative category a broken or false commitment is recorded in; raise `invalid` otherwise."""
    category = catalogue.categories.get(code)
    if category is None or category.polarity is not Polarity.NEGATIVE:
        raise invalid(f"{where}.category must be a negative category of the catalogue")
    if document_type not in category.document_types:
        raise invalid(f"{where}.document_type must be one of {category.code}'s document types")
    return category


def load_default_rules(catalogue: Catalogue) -> DeclarationRules:
    """Return the shipped rules (``consent/data/declarations.json``), checked against the catalogue."""
    return parse_rules(applications.shipped("declarations.json"), catalogue)


def check_declarable(rules: DeclarationRules, catalogue: Catalogue, code: str) -> Category:
    """Return the category if it is open to voluntary registration; raise NotDeclarable naming those that are."""
    if code not in rules.categories:
        raise NotDeclarable(code, rules.categories)
    return catalogue.category(code)


def competent_categories(rules: DeclarationRules, catalogue: Catalogue, provider: Provider) -> list[str]:
    """Return the declarable categories the agency may verify.

    It must be registered for the category and for the breach a false one becomes, and its role and level
    must allow it to file both (DET-4): verifying makes it the producer of whichever record follows.
    """
    breach = rules.false_finding.category

    def may_file(code: str) -> bool:
        return code in provider.categories and catalogue.filing_refusal(code, provider.agency, provider.level) is None

    if not may_file(breach):
        return []
    return [code for code in rules.categories if may_file(code)]


# --- the declarations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeclarationView:
    """A declaration's plain columns, never its payload or texts."""

    id: str
    subject_ref: str
    category: str
    status: str
    submitted_at: datetime
    verify_by: date
    decided_at: datetime | None
    provider_id: str | None
    record_id: str | None
    overdue_recorded: bool

    def overdue_on(self, today: date) -> bool:
        """Tell whether the verification is still waiting after its deadline on `today` (CST)."""
        return self.status == UNVERIFIED and today > self.verify_by


_VIEW = (select(Declaration.id, Subject.subject_ref, Declaration.category, Declaration.status,
                Declaration.submitted_at, Declaration.verify_by, Declaration.decided_at, Declaration.provider_id,
                Declaration.record_id, Declaration.overdue)
         .join(Subject, Subject.id == Declaration.subject_id))


def _view(row: Any) -> DeclarationView:
    return DeclarationView(*row)


def get_for_person(tx: Tx, declaration_id: str, subject_ref: str) -> DeclarationView:
    """Return the person's own declaration; DeclarationNotFound otherwise."""
    row = tx.session.execute(_VIEW.where(Declaration.id == declaration_id, Subject.subject_ref == subject_ref)).first()
    if row is None:
        raise DeclarationNotFound(declaration_id)
    return _view(row)


def get_for_agency(tx: Tx, declaration_id: str, categories: list[str], provider_id: str) -> DeclarationView:
    """Return a declaration the agency may verify (waiting, in its categories) or has decided itself;
    DeclarationNotFound for any other (it must not learn of it)."""
    row = tx.session.execute(_VIEW.where(
        Declaration.id == declaration_id, Declaration.category.in_(categories),
        or_(Declaration.status == UNVERIFIED, Declaration.provider_id == provider_id))).first()
    if row is None:
        raise DeclarationNotFound(declaration_id)
    return _view(row)


def list_for_person(tx: Tx, subject_ref: str) -> list[DeclarationView]:
    """Return the person's declarations, newest first."""
    rows = tx.session.execute(_VIEW.where(Subject.subject_ref == subject_ref)
                              .order_by(Declaration.submitted_at.desc(), Declaration.id))
    return [_view(r) for r in rows]


def queue(tx: Tx, categories: list[str], provider_id: str, status: str | None) -> list[DeclarationView]:
    """Return the declarations waiting in the agency's categories (or those it decided, of one status)."""
    query = _VIEW.where(Declaration.category.in_(categories))
    if status is None or status == UNVERIFIED:
        query = query.where(Declaration.status == UNVERIFIED)
    else:
        query = query.where(Declaration.status == status, Declaration.provider_id == provider_id)
    rows = tx.session.execute(query.order_by(Declaration.verify_by, Declaration.submitted_at, Declaration.id))
    return [_view(r) for r in rows]


def decide(tx: Tx, view: DeclarationView, outcome: str, provider_id: str) -> None:
    """Close an unverified declaration with its outcome, or raise DeclarationStepOutOfOrder naming its status.

    Of two agency staff deciding at once, the conditional UPDATE lets one in; the record that follows is the
    vault's, in the same transaction.
    """
    if view.status != UNVERIFIED:
        raise DeclarationStepOutOfOrder(view.id, view.status)
    applications.move(tx, Declaration, view.id, UNVERIFIED, lambda now: DeclarationStepOutOfOrder(view.id, now),
                      status=outcome, decided_at=tx.now, provider_id=provider_id)


def record_overdue(tx: Tx) -> list[DeclarationView]:
    """Record an audit entry for each declaration past its verification deadline not recorded yet."""
    found = []
    rows = tx.session.execute(_VIEW.where(Declaration.status == UNVERIFIED, Declaration.verify_by < tx.today,
                                          Declaration.overdue.is_(False)).order_by(Declaration.verify_by))
    for view in map(_view, rows):
        tx.session.execute(update(Declaration).where(Declaration.id == view.id).values(overdue=True)
                           .execution_options(synchronize_session=False))
        tx.record(Tag.DECLARATION_OVERDUE, subject_ref=view.subject_ref, detail={
            "declaration_id": view.id, "category": view.category, "deadline": view.verify_by.isoformat(),
            "days_late": (tx.today - view.verify_by).days})
        found.append(view)
    return found
