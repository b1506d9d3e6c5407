"""Use cases of voluntary registration (自愿注册): the person declares, the competent agency verifies.

Each opens one transaction. What the person declared, the commitment and authorisation they accepted and
their evidence go in and out through the vault's audited methods; which categories are open, who may verify
and by when are the consent context's. A verified declaration becomes a record produced by the verifying
agency, checked by the same entry rules as any record it files; one found false becomes a broken-commitment
record (COM-3), and the person is told why and how to object to it or repair it. A refused request is
recorded in its own transaction after the rollback.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from audit.clock import CST, isoformat_z
from audit.tags import Tag
from audit.tx import AccessContext, Tx
from consent import declarations as dc
from consent import entry, notifications
from consent import objections as ob
from consent import repairs as rp
from consent.declarations import DeclarationView
from consent.errors import DeclarationOpen
from gateway.runtime import Runtime
from gateway.usecases.consents import institutions
from gateway.usecases.records import denials_audited
from vault.types import DeclarationTexts, Document, Evidence, NewRecord, Prepared, Provider, RecordDraft

BASIS = "voluntary registration (自愿注册), VOL-1"


@dataclass(frozen=True, slots=True)
class Declare:
    """A person's declaration of positive information, with the truthfulness commitment they accept."""

    subject_ref: str
    category: str
    payload: Mapping[str, Any] = field(repr=False)
    commitment: str = field(repr=False)
    evidence: Sequence[Evidence] = field(default=(), repr=False)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyDeclaration:
    """The competent agency's finding: verified, or false (with the reason the person reads)."""

    provider: Provider
    declaration_id: str
    outcome: str
    reason: str = field(repr=False)
    request_id: str | None = None


def person_access(subject_ref: str, request_id: str | None, basis: str = BASIS) -> AccessContext:
    return AccessContext(actor=subject_ref, role="person", basis=basis, request_id=request_id)


def body_access(client_id: str, role: str, request_id: str | None, basis: str = BASIS) -> AccessContext:
    return AccessContext(actor=client_id, role=role, basis=basis, request_id=request_id)


def on(moment: datetime | None) -> str | None:
    """Return the day (CST) of a moment, or None."""
    return None if moment is None else moment.astimezone(CST).date().isoformat()


def remedies(rt: Runtime, record_id: str, category: str, decided: date) -> dict[str, Any]:
    """Return what a person may do about a negative record made of their declaration or commitment."""
    return {"record_id": record_id,
            "objection": {"apply_at": "/api/v1/me/objections", "record_id": record_id},
            "repair": rp.repairability(rt.catalogue.category(category), decided, rt.policy.repairs)}


def describe(rt: Runtime, tx: Tx, view: DeclarationView, texts: DeclarationTexts | None,
             names: dict[str, dict[str, Any]], *, with_evidence: bool = False) -> dict[str, Any]:
    """Return a declaration as its person or an agency sees it: status, dates, deadline, what it became."""
    category = rt.catalogue.category(view.category)
    out: dict[str, Any] = {
        "id": view.id,
        "category": view.category,
        "category_name": {"zh": category.name_zh, "en": category.name_en},
        "status": view.status,
        "self_reported": True,
        "submitted_at": isoformat_z(view.submitted_at),
        "verify_by": view.verify_by.isoformat(),
        "working_days": rt.policy.declarations.verify.days,
        "overdue": view.overdue_on(tx.today),
        "decided_on": on(view.decided_at),
        "agency": None if view.provider_id is None else names.get(view.provider_id),
        "record_id": view.record_id,
        # Only a verified declaration is a record, shared as its category's rules allow (VOL-1).
        "released_to_third_parties": view.status == dc.VERIFIED,
    }
    note = ob.calendar_note(view.verify_by)
    if note:
        out["calendar_note"] = note
    if view.status == dc.FALSE and view.record_id is not None and view.decided_at is not None:
        finding = rt.policy.declarations.false_finding
        out["remedies"] = remedies(rt, view.record_id, finding.category, view.decided_at.astimezone(CST).date())
    if texts is not None:
        out["payload"] = texts.payload
        out["commitment"] = {"text": texts.commitment, "accepted": True}
        out["authorisation"] = {"text": texts.authorisation, "accepted": True}
        out["agency_words"] = texts.answer
        out["evidence"] = evidence_out(texts.evidence, with_evidence)
    return out


def evidence_out(evidence: Sequence[Evidence], with_contents: bool) -> list[dict[str, Any]]:
    """Return evidence files as shown: names, types and sizes; the contents only to the deciding agency."""
    return [{"filename": e.filename, "content_type": e.content_type, "size": len(e.content),
             **({"content_base64": base64.b64encode(e.content).decode()} if with_contents else {})}
            for e in evidence]


def _item_key(rt: Runtime, subject_ref: str, category: str, payload: Mapping[str, Any]) -> str:
    # Keyed, so the column says nothing of the payload; the same item declared twice has the same key.
    canonical = json.dumps([subject_ref, category, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return rt.vault.fingerprint(canonical.encode())


def declare(rt: Runtime, cmd: Declare) -> dict[str, Any]:
    """File the person's declaration; NotDeclarable, PayloadInvalid, EvidenceInvalid or DeclarationOpen if not."""
    access = person_access(cmd.subject_ref, cmd.request_id)
    rules = rt.policy.declarations
    with denials_audited(rt.uow, access, Tag.DECLARATION_DENIED, cmd.subject_ref):
        category = dc.check_declarable(rules, rt.catalogue, cmd.category)
        ob.check_evidence(rt.policy.objections.evidence, cmd.evidence)
        try:
            with rt.uow.begin(access) as tx:
                payload = entry.check_payload(rt.catalogue, category, cmd.payload, tx.today)
                declaration_id = rt.vault.file_declaration(
                    tx, cmd.subject_ref, category.code, payload, cmd.commitment, rules.authorisation.zh,
                    cmd.evidence, _item_key(rt, cmd.subject_ref, category.code, payload), rules.deadline(tx.today))
                return describe(rt, tx, dc.get_for_person(tx, declaration_id, cmd.subject_ref), None, {})
        except IntegrityError:
            # The same item declared twice at once: the partial unique index let the first in.
            raise DeclarationOpen("this item is already declared and waits for verification") from None
    raise AssertionError("unreachable")


def my_declarations(rt: Runtime, subject_ref: str, declaration_id: str | None,
                    request_id: str | None) -> list[dict[str, Any]]:
    """Return the person's declarations (or the one named), newest first, with their texts; the read is recorded."""
    access = person_access(subject_ref, request_id)
    with denials_audited(rt.uow, access, Tag.DECLARATION_DENIED, subject_ref), rt.uow.begin(access) as tx:
        views = (dc.list_for_person(tx, subject_ref) if declaration_id is None
                 else [dc.get_for_person(tx, declaration_id, subject_ref)])
        texts = rt.vault.read_declarations(tx, subject_ref, [v.id for v in views]) if views else {}
        names = institutions(tx, {v.provider_id for v in views if v.provider_id})
        return [describe(rt, tx, v, texts.get(v.id), names) for v in views]
    raise AssertionError("unreachable")


def _competent(rt: Runtime, provider: Provider) -> list[str]:
    return dc.competent_categories(rt.policy.declarations, rt.catalogue, provider)


def agency_queue(rt: Runtime, provider: Provider, status: str | None, request_id: str | None) -> list[dict[str, Any]]:
    """Return the declarations the agency may verify (waiting, or those it decided), oldest deadline first."""
    with rt.uow.begin(body_access(provider.client_id, "provider", request_id), readonly=True) as tx:
        views = dc.queue(tx, _competent(rt, provider), provider.client_id, status)
        names = institutions(tx, {provider.client_id})
        return [describe(rt, tx, v, None, names) for v in views]


def agency_declaration(rt: Runtime, provider: Provider, declaration_id: str,
                       request_id: str | None) -> dict[str, Any]:
    """Return a declaration the agency may verify, with what was declared and the evidence: an audited release."""
    access = body_access(provider.client_id, "provider", request_id)
    with denials_audited(rt.uow, access, Tag.DECLARATION_DENIED), rt.uow.begin(access) as tx:
        categories = _competent(rt, provider)
        view = dc.get_for_agency(tx, declaration_id, categories, provider.client_id)
        texts = rt.vault.release_declaration(tx, declaration_id, provider.client_id, categories,
                                             {"status": view.status})
        return describe(rt, tx, view, texts, institutions(tx, {provider.client_id}), with_evidence=True)
    raise AssertionError("unreachable")


def filed_by(rt: Runtime, tx: Tx, provider: Provider) -> Callable[[NewRecord], Prepared]:
    """Return the entry check of a record the agency files now, as any record it submits is checked."""
    return lambda record: entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, record, tx.today)


def breach_document(document_type: str, about: str, authority: str, today: date) -> Document:
    """Return the document a broken-commitment record rests on: the authority's own finding on `about`."""
    return Document(document_type, f"{about} finding", authority, today)


def _draft(rt: Runtime, tx: Tx, view: DeclarationView, outcome: str, reason: str,
           authority: str) -> Callable[[DeclarationTexts], RecordDraft]:
    finding = rt.policy.declarations.false_finding

    def draft(texts: DeclarationTexts) -> RecordDraft:
        if outcome == dc.VERIFIED:  # a record of its category, decided by the verification
            return RecordDraft(view.category, tx.today, None, texts.payload)
        return RecordDraft(finding.category, tx.today,
                           breach_document(finding.document_type, view.id, authority, tx.today),
                           {"breach": finding.breach, "scenario": finding.scenario, "commitment": texts.commitment,
                            "finding": reason})

    return draft


def verify(rt: Runtime, cmd: VerifyDeclaration) -> dict[str, Any]:
    """Decide a waiting declaration; DeclarationStepOutOfOrder names the status of one already decided.

    Verified, it becomes a record of its category; found false, a broken-commitment record. Either is the
    verifying agency's, and the person is notified.
    """
    access = body_access(cmd.provider.client_id, "provider", cmd.request_id)
    with denials_audited(rt.uow, access, Tag.DECLARATION_DENIED), rt.uow.begin(access) as tx:
        categories = _competent(rt, cmd.provider)
        view = dc.get_for_agency(tx, cmd.declaration_id, categories, cmd.provider.client_id)
        dc.decide(tx, view, cmd.outcome, cmd.provider.client_id)
        names = institutions(tx, {cmd.provider.client_id})
        draft = _draft(rt, tx, view, cmd.outcome, cmd.reason, names[cmd.provider.client_id]["name"])
        rt.vault.decide_declaration(tx, cmd.provider, view.id, categories, cmd.outcome, cmd.reason, draft,
                                    filed_by(rt, tx, cmd.provider))
        notifications.notify(tx, view.subject_ref, "declaration_step", view.id, cmd.outcome)
        return describe(rt, tx, dc.get_for_agency(tx, view.id, categories, cmd.provider.client_id), None, names)
    raise AssertionError("unreachable")


def record_overdue(rt: Runtime) -> int:
    """Record an audit entry for every declaration past its verification deadline not yet recorded; return how many."""
    with rt.uow.begin(AccessContext(actor="xinyong", role="system")) as tx:
        return len(dc.record_overdue(tx))
