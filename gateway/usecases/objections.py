"""Use cases of objections (异议): the person files and follows one, the producing agency answers it.

Each opens one transaction. The person's reason and evidence, and the agency's words, go in and out
through the vault's audited methods; the steps and their deadlines are the consent context's. A
refused request (a second open objection, a step out of order, another agency's objection) is recorded
in its own transaction after the rollback.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from audit.clock import isoformat_z
from audit.tags import Tag
from audit.tx import AccessContext, Tx
from consent import entry, notifications
from consent import notices as nt
from consent import objections as ob
from consent.errors import ObjectionOpen
from consent.objections import ObjectionView
from gateway.runtime import Runtime
from gateway.usecases import listings as listing_use
from gateway.usecases import notices
from gateway.usecases.consents import institutions
from gateway.usecases.records import denials_audited
from vault.types import Evidence, NewRecord, ObjectionTexts, Prepared, Provider


@dataclass(frozen=True, slots=True)
class FileObjection:
    subject_ref: str
    record_id: str
    reason: str
    evidence: Sequence[Evidence] = field(default=(), repr=False)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgencyStep:
    """An agency's step on an objection: accept, refuse (with reason) or decide (outcome, reason, correction)."""

    provider: Provider
    objection_id: str
    step: str
    reason: str | None = None
    outcome: str | None = None
    correction: dict[str, Any] | None = None
    request_id: str | None = None


def _person(subject_ref: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=subject_ref, role="person", basis="objection (异议), OBJ-1", request_id=request_id)


def _agency(provider_id: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=provider_id, role="provider", basis="objection (异议), OBJ-1", request_id=request_id)


def describe(rt: Runtime, tx: Tx, view: ObjectionView, texts: ObjectionTexts | None,
             names: dict[str, dict[str, Any]], *, with_evidence: bool = False) -> dict[str, Any]:
    """Return an objection as its person or its agency sees it: steps, dates, deadlines, words."""
    rules = rt.policy.objections
    answer = texts.answer if texts is not None else None
    out: dict[str, Any] = {
        "id": view.id,
        "record_id": view.record_id,
        "status": view.status,
        "submitted_at": isoformat_z(view.submitted_at),
        "agency": names.get(view.provider_id, {"id": view.provider_id, "name": view.provider_id, "kind": None}),
        "accept_by": view.accept_by.isoformat(),
        "decide_by": None if view.decide_by is None else view.decide_by.isoformat(),
        "open_step": view.open_step,
        "deadline": None if view.due is None else view.due.isoformat(),
        "overdue": view.overdue_on(tx.today),
        "steps": ob.steps(view, rules, tx.today, answer),
        "corrected_record_id": view.corrected_record_id,
    }
    listing = listing_use.objection_linked(tx, view.id)
    if listing is not None:
        # An objection to a proposed listing: revoked drops the listing and leaves the record (see listings).
        out["listing_id"] = listing.id
    note = ob.calendar_note(view.due) if view.due is not None else None
    if note:
        out["calendar_note"] = note
    if texts is not None:
        out["reason"] = texts.reason
        out["agency_words"] = texts.answer
        out["evidence"] = [{"filename": e.filename, "content_type": e.content_type, "size": len(e.content),
                            **({"content_base64": _b64(e.content)} if with_evidence else {})}
                           for e in texts.evidence]
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def file_objection(rt: Runtime, cmd: FileObjection) -> dict[str, Any]:
    """File the person's objection to one of their records; raise ObjectionOpen if one is open on it."""
    access = _person(cmd.subject_ref, cmd.request_id)
    with denials_audited(rt.uow, access, Tag.OBJECTION_DENIED, cmd.subject_ref):
        ob.check_evidence(rt.policy.objections.evidence, cmd.evidence)
        try:
            with rt.uow.begin(access) as tx:
                accept_by = rt.policy.objections.deadline("accept", tx.today)
                objection_id, _ = rt.vault.file_objection(tx, cmd.subject_ref, cmd.record_id, cmd.reason,
                                                          cmd.evidence, accept_by)
                view = ob.get_for_person(tx, objection_id, cmd.subject_ref)
                return describe(rt, tx, view, None, institutions(tx, {view.provider_id}))
        except IntegrityError:
            # Two objections at once: the partial unique index let the first in.
            raise ObjectionOpen(f"record {cmd.record_id} already has an open objection") from None
    raise AssertionError("unreachable")


def my_objections(rt: Runtime, subject_ref: str, objection_id: str | None,
                  request_id: str | None) -> list[dict[str, Any]]:
    """Return the person's objections (or the one named), newest first, with their texts; the read is recorded,
    and so is a look-up of an objection that is not theirs (refused as not found)."""
    access = _person(subject_ref, request_id)
    with denials_audited(rt.uow, access, Tag.OBJECTION_DENIED, subject_ref), rt.uow.begin(access) as tx:
        if objection_id is None:
            views = ob.list_for_person(tx, subject_ref)
        else:
            views = [ob.get_for_person(tx, objection_id, subject_ref)]
        texts = rt.vault.read_objections(tx, subject_ref, [v.id for v in views]) if views else {}
        told = nt.for_records(tx, subject_ref, [v.record_id for v in views])
        names = institutions(tx, {v.provider_id for v in views}
                             | {n.institution_id for ns in told.values() for n in ns})
        return [{**describe(rt, tx, v, texts.get(v.id), names),
                 "institutions_told": [notices.told_out(n, names) for n in told.get(v.record_id, [])]}
                for v in views]
    raise AssertionError("unreachable")


def agency_queue(rt: Runtime, provider: Provider, status: str | None, request_id: str | None) -> list[dict[str, Any]]:
    """Return the agency's objections (open ones, or of one status), oldest deadline first; no texts."""
    with rt.uow.begin(_agency(provider.client_id, request_id), readonly=True) as tx:
        views = ob.queue(tx, provider.client_id, status)
        names = institutions(tx, {provider.client_id})
        return [describe(rt, tx, v, None, names) for v in views]


def agency_objection(rt: Runtime, provider: Provider, objection_id: str, request_id: str | None) -> dict[str, Any]:
    """Return one of the agency's objections with the reason and evidence: an audited release."""
    access = _agency(provider.client_id, request_id)
    with denials_audited(rt.uow, access, Tag.OBJECTION_DENIED), rt.uow.begin(access) as tx:
        view = ob.get_for_agency(tx, objection_id, provider.client_id)
        texts = rt.vault.release_objection(tx, objection_id, provider.client_id, {"status": view.status})
        return describe(rt, tx, view, texts, institutions(tx, {provider.client_id}), with_evidence=True)
    raise AssertionError("unreachable")


def agency_step(rt: Runtime, cmd: AgencyStep) -> dict[str, Any]:
    """Take one step on the agency's objection; ObjectionStepOutOfOrder names the status it is in."""
    access = _agency(cmd.provider.client_id, cmd.request_id)
    with denials_audited(rt.uow, access, Tag.OBJECTION_DENIED), rt.uow.begin(access) as tx:
        view = ob.get_for_agency(tx, cmd.objection_id, cmd.provider.client_id)
        detail = {"institution": cmd.provider.client_id}
        # An objection to a proposed listing is about the listing: revoked drops it and leaves the record.
        listing = listing_use.objection_linked(tx, view.id)
        if cmd.step == "accept":
            ob.accept(tx, rt.policy.objections, view)
        elif cmd.step == "refuse":
            assert cmd.reason is not None
            ob.refuse(tx, view)
            rt.vault.answer_objection(tx, view.id, cmd.reason, "refused", detail)
        else:
            assert cmd.reason is not None
            assert cmd.outcome is not None
            ob.check_may_decide(view)
            if listing is not None:
                listing_use.check_listing_outcome(cmd.outcome)
            corrected = _apply(rt, tx, cmd, view) if listing is None else None
            ob.decide(tx, view, cmd.outcome, corrected)
            if cmd.outcome in ("corrected", "revoked") and listing is None:
                notices.tell(rt, tx, view.record_id, cmd.outcome)  # OBJ-5: its past recipients are told
                listing_use.record_ended(rt, tx, view.record_id, "record_revoked", cmd.provider.client_id)
            rt.vault.answer_objection(tx, view.id, cmd.reason, cmd.outcome,
                                      {**detail, "corrected_record_id": corrected} if corrected else detail)
        if listing is not None:
            listing_use.after_objection(rt, tx, listing, cmd.step, cmd.outcome, cmd.provider.client_id)
        after = ob.get_for_agency(tx, cmd.objection_id, cmd.provider.client_id)
        notifications.notify(tx, view.subject_ref, "objection_step", view.id, after.status)
        return describe(rt, tx, after, None, institutions(tx, {cmd.provider.client_id}))
    raise AssertionError("unreachable")


def _apply(rt: Runtime, tx: Tx, cmd: AgencyStep, view: ObjectionView) -> str | None:
    """Carry out the decision on the record: revoke it, or replace it by its corrected version."""
    why = f"objection {view.id}: {cmd.outcome}"
    if cmd.outcome == "revoked":
        rt.vault.revoke(tx, cmd.provider, view.record_id, why)
        return None
    if cmd.outcome == "corrected":
        assert cmd.correction is not None
        today = tx.today

        def prepare(record: NewRecord) -> Prepared:
            return entry.prepare(rt.catalogue, rt.vault.fingerprint, cmd.provider, record, today)

        return rt.vault.correct(tx, cmd.provider, view.record_id, cmd.correction, prepare, why).id
    return None


def record_overdue(rt: Runtime) -> int:
    """Record an audit entry for every objection step past its deadline not yet recorded; return how many."""
    with rt.uow.begin(AccessContext(actor="xinyong", role="system")) as tx:
        return len(ob.record_overdue(tx))
