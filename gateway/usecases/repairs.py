"""Use cases of credit repair (信用修复): the person applies and follows it, the producing agency decides.

Each opens one transaction. The person's statement, commitment and evidence, and the agency's reason, go
in and out through the vault's audited methods; whether and when a record may be repaired, and the
decision's deadline, are the consent context's. A refused request (not repairable, too early, a second
open application, a decision out of order, another agency's application) is recorded in its own
transaction after the rollback. Repair is free (REP-10): no step asks for a fee or a payment.

A decision returns what changed (`changed`: the record, its outcome and effect, and whether third parties
stop receiving it), which is what a notice to the record's past recipients is made from.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from audit.clock import CST, isoformat_z
from audit.tags import Tag
from audit.tx import AccessContext, Tx
from consent import objections as ob
from consent import repairs as rp
from consent.errors import RepairOpen
from consent.repairs import RepairView
from gateway.runtime import Runtime
from gateway.usecases import listings as listing_use
from gateway.usecases import notices
from gateway.usecases.consents import institutions
from gateway.usecases.records import denials_audited
from vault.types import Evidence, Provider, RepairTexts

BASIS = "credit repair (信用修复), REP-1"


@dataclass(frozen=True, slots=True)
class ApplyForRepair:
    subject_ref: str
    record_id: str
    methods: Sequence[str]
    statement: str = field(repr=False)
    commitment: str = field(repr=False)
    evidence: Sequence[Evidence] = field(default=(), repr=False)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class DecideRepair:
    """The producing agency's decision: repaired (with its effect) or refused, with the reason the person reads."""

    provider: Provider
    repair_id: str
    outcome: str
    reason: str = field(repr=False)
    effect: str | None = None
    request_id: str | None = None


def _person(subject_ref: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=subject_ref, role="person", basis=BASIS, request_id=request_id)


def _agency(provider_id: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=provider_id, role="provider", basis=BASIS, request_id=request_id)


def describe(rt: Runtime, tx: Tx, view: RepairView, texts: RepairTexts | None,
             names: dict[str, dict[str, Any]], *, with_evidence: bool = False) -> dict[str, Any]:
    """Return an application as its person or its agency sees it: status, dates, deadline, words."""
    rules = rt.policy.repairs
    out: dict[str, Any] = {
        "id": view.id,
        "record_id": view.record_id,
        "status": view.status,
        "methods": view.method_codes,
        "submitted_at": isoformat_z(view.submitted_at),
        "agency": names.get(view.provider_id, {"id": view.provider_id, "name": view.provider_id, "kind": None}),
        "decide_by": view.decide_by.isoformat(),
        "working_days": rules.decide_days,
        "overdue": view.overdue_on(tx.today),
        "decided_on": None if view.decided_at is None else view.decided_at.astimezone(CST).date().isoformat(),
        "effect": view.effect,
    }
    note = ob.calendar_note(view.decide_by)
    if note:
        out["calendar_note"] = note
    if view.status == rp.REFUSED:
        # Told why (the agency's words, below) and what would qualify: the published ways to repair.
        category = rt.catalogue.category(view.category)
        earliest = category.earliest_repair(view.record_decided_at)
        out["what_would_qualify"] = {
            "from": None if earliest is None else earliest.isoformat(),
            "methods": [{"code": m.code, "zh": m.zh, "en": m.en, "reason": m.reason}
                        for m in rules.methods.values()],
            "conditions": rules.basis,
            "reapply": "a new application may be made at once; it is free of charge",
        }
    if texts is not None:
        out["statement"] = texts.statement
        out["commitment"] = {"text": texts.commitment, "accepted": True}
        out["agency_words"] = texts.answer
        out["evidence"] = [{"filename": e.filename, "content_type": e.content_type, "size": len(e.content),
                            **({"content_base64": base64.b64encode(e.content).decode()} if with_evidence else {})}
                           for e in texts.evidence]
    return out


def apply(rt: Runtime, cmd: ApplyForRepair) -> dict[str, Any]:
    """File the person's repair application; NotRepairable, RepairTooEarly or RepairOpen if it may not be."""
    access = _person(cmd.subject_ref, cmd.request_id)
    rules = rt.policy.repairs
    with denials_audited(rt.uow, access, Tag.REPAIR_DENIED, cmd.subject_ref):
        rp.check_methods(rules, cmd.methods)
        ob.check_evidence(rt.policy.objections.evidence, cmd.evidence)
        try:
            with rt.uow.begin(access) as tx:
                eligible = rp.check_eligible(tx, rt.catalogue, cmd.subject_ref, cmd.record_id)
                decide_by = rules.deadline(tx.today)
                repair_id = rt.vault.file_repair(tx, cmd.subject_ref, cmd.record_id, eligible.provider_id,
                                                 cmd.methods, cmd.statement, cmd.commitment, cmd.evidence,
                                                 decide_by)
                view = rp.get_for_person(tx, repair_id, cmd.subject_ref)
                return describe(rt, tx, view, None, institutions(tx, {view.provider_id}))
        except IntegrityError:
            # Two applications at once: the partial unique index let the first in.
            raise RepairOpen(f"record {cmd.record_id} already has an open repair application") from None
    raise AssertionError("unreachable")


def my_repairs(rt: Runtime, subject_ref: str, repair_id: str | None, request_id: str | None) -> list[dict[str, Any]]:
    """Return the person's applications (or the one named), newest first, with their texts; the read is recorded."""
    access = _person(subject_ref, request_id)
    with denials_audited(rt.uow, access, Tag.REPAIR_DENIED, subject_ref), rt.uow.begin(access) as tx:
        views = (rp.list_for_person(tx, subject_ref) if repair_id is None
                 else [rp.get_for_person(tx, repair_id, subject_ref)])
        texts = rt.vault.read_repairs(tx, subject_ref, [v.id for v in views]) if views else {}
        names = institutions(tx, {v.provider_id for v in views})
        return [describe(rt, tx, v, texts.get(v.id), names) for v in views]
    raise AssertionError("unreachable")


def agency_queue(rt: Runtime, provider: Provider, status: str | None, request_id: str | None) -> list[dict[str, Any]]:
    """Return the agency's applications (open ones, or of one status), oldest deadline first; no texts."""
    with rt.uow.begin(_agency(provider.client_id, request_id), readonly=True) as tx:
        views = rp.queue(tx, provider.client_id, status)
        names = institutions(tx, {provider.client_id})
        return [describe(rt, tx, v, None, names) for v in views]


def agency_repair(rt: Runtime, provider: Provider, repair_id: str, request_id: str | None) -> dict[str, Any]:
    """Return one of the agency's applications with its statement and evidence: an audited release."""
    access = _agency(provider.client_id, request_id)
    with denials_audited(rt.uow, access, Tag.REPAIR_DENIED), rt.uow.begin(access) as tx:
        view = rp.get_for_agency(tx, repair_id, provider.client_id)
        texts = rt.vault.release_repair(tx, repair_id, provider.client_id, {"status": view.status})
        return describe(rt, tx, view, texts, institutions(tx, {provider.client_id}), with_evidence=True)
    raise AssertionError("unreachable")


def decide(rt: Runtime, cmd: DecideRepair) -> dict[str, Any]:
    """Decide the agency's open application; RepairStepOutOfOrder names the status it is in.

    Returns the application as decided, with `changed`: what the decision did to the record.
    """
    access = _agency(cmd.provider.client_id, cmd.request_id)
    with denials_audited(rt.uow, access, Tag.REPAIR_DENIED), rt.uow.begin(access) as tx:
        view = rp.get_for_agency(tx, cmd.repair_id, cmd.provider.client_id)
        effect = cmd.effect if cmd.outcome == rp.REPAIRED else None
        rp.decide(tx, view, cmd.outcome, effect)
        rt.vault.decide_repair(tx, view.id, cmd.outcome, effect, cmd.reason,
                               {"institution": cmd.provider.client_id})
        if cmd.outcome == rp.REPAIRED:
            notices.tell(rt, tx, view.record_id, "repaired")  # its past recipients are told, as of a correction
            # A repaired record ends the listings resting on it (LIST-8 exit, REP-9 lift punishment flags).
            listing_use.record_ended(rt, tx, view.record_id, "repaired", cmd.provider.client_id)
        after = rp.get_for_agency(tx, cmd.repair_id, cmd.provider.client_id)
        out = describe(rt, tx, after, None, institutions(tx, {cmd.provider.client_id}))
        out["changed"] = {"record_id": view.record_id, "outcome": cmd.outcome, "effect": effect,
                          "released_to_third_parties": cmd.outcome != rp.REPAIRED,
                          "decided_at": None if after.decided_at is None else isoformat_z(after.decided_at)}
        return out
    raise AssertionError("unreachable")


def record_overdue(rt: Runtime) -> int:
    """Record an audit entry for every application past its decision deadline not yet recorded; return how many."""
    with rt.uow.begin(AccessContext(actor="xinyong", role="system")) as tx:
        return len(rp.record_overdue(tx))
