"""Use cases of lists (名单): an agency proposes and ends listings, the person follows and objects, the clock runs.

Each opens one transaction. The reason, basis and an agency's words go in and out through the vault's audited
methods; who may list whom, the objection window, the cross-check of red and black lists and every change of
status are the consent context's (consent/listings.py). The person objects through the objection mechanism:
an objection to a proposed listing is an objection to the record it rests on, tied to the listing, answered by
the same agency at /api/v1/objections (revoked drops the listing and leaves the record; upheld lets it take
effect). A refused request is recorded in its own transaction after the rollback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from audit.clock import CST
from audit.tags import Tag
from audit.tx import AccessContext, Tx
from consent import listings as ls
from consent import notifications
from consent import objections as ob
from consent.errors import ListingOpen, ObjectionOpen, RequestInvalid
from consent.listings import ListingView
from gateway.runtime import Runtime
from gateway.usecases.consents import institutions
from gateway.usecases.records import denials_audited
from vault.types import Evidence, ListingTexts, Provider

BASIS = "lists (名单) with prior notice, LIST-4"


@dataclass(frozen=True, slots=True)
class ProposeListing:
    """An agency's proposal: the list, the record it rests on, the reason, the basis and the measures."""

    provider: Provider
    record_id: str
    kind: str
    reason: str = field(repr=False)
    basis: str = field(repr=False)
    measures: Sequence[str] = ()
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class EndListing:
    """An agency's decision to withdraw a proposal or remove a listing, with the reason the person reads."""

    provider: Provider
    listing_id: str
    reason: str = field(repr=False)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectToListing:
    subject_ref: str
    listing_id: str
    reason: str = field(repr=False)
    evidence: Sequence[Evidence] = field(default=(), repr=False)
    request_id: str | None = None


def _person(subject_ref: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=subject_ref, role="person", basis=BASIS, request_id=request_id)


def _agency(provider_id: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=provider_id, role="provider", basis=BASIS, request_id=request_id)


def _day(moment: Any) -> str | None:
    return None if moment is None else moment.astimezone(CST).date().isoformat()


def describe(rt: Runtime, tx: Tx, view: ListingView, texts: ListingTexts | None, names: Mapping[str, Any],
             history: Sequence[Any] = ()) -> dict[str, Any]:
    """Return a listing as its person or its agency sees it: status, clocks, measures, and its versions."""
    rules = rt.policy.lists
    kind = rules.kinds[view.kind]
    out: dict[str, Any] = {
        "id": view.id,
        "list": view.kind,
        "list_name": {"zh": kind.zh, "en": kind.en},
        "record_id": view.record_id,
        "status": view.status,
        "version": view.version,
        "agency": names.get(view.provider_id, {"id": view.provider_id, "name": view.provider_id, "kind": None}),
        "proposed_on": _day(view.proposed_at),
        "objection_until": None if view.objection_until is None else view.objection_until.isoformat(),
        "objection_window_working_days": kind.window_days,
        "objection_id": view.objection_id,
        "objection_open": view.objection_open,
        "may_object": view.may_object_on(tx.today),
        "effective_on": _day(view.effective_at),
        "until": None if view.until is None else view.until.isoformat(),
        "ended_on": _day(view.ended_at),
        "end_cause": view.end_cause,
        "measures": [kind.measures[c].to_public() for c in view.measure_codes if c in kind.measures],
        "monitored_until": None if view.monitored_until is None else view.monitored_until.isoformat(),
        "versions": [{"version": v.version, "status": v.status, "cause": v.cause, "why": ls.CAUSES.get(v.cause),
                      "on": _day(v.at), **({} if texts is None else {"words": texts.words.get(v.version)})}
                     for v in history],
    }
    note = ob.calendar_note(view.objection_until) if view.objection_until is not None else None
    if note:
        out["calendar_note"] = note
    if texts is not None:
        out["reason"] = texts.reason
        out["basis"] = texts.basis
        out.update(rules.notice(view.kind))  # removal conditions and procedure, remedies, rights (LIST-5, LIST-7)
    return out


def propose(rt: Runtime, cmd: ProposeListing) -> dict[str, Any]:
    """Propose a listing and tell the person; LevelTooLow, Listed, ListingOpen or a record refusal if it may not be."""
    access = _agency(cmd.provider.client_id, cmd.request_id)
    rules = rt.policy.lists
    with denials_audited(rt.uow, access, Tag.LISTING_DENIED):
        if cmd.kind not in rules.kinds:
            raise RequestInvalid("list", f"must be one of {', '.join(rules.kinds)}")
        kind = rules.kinds[cmd.kind]
        ls.check_measures(kind, cmd.measures)
        try:
            with rt.uow.begin(access) as tx:
                basis = ls.check_may_propose(tx, rt.catalogue, kind, cmd.provider, cmd.record_id)
                status, objection_until, until = ls.first_status(kind, tx.today)
                listing_id = rt.vault.propose_listing(tx, basis.subject_ref, basis.record_id, cmd.provider.client_id,
                                                      kind.code, status, cmd.measures, cmd.reason, cmd.basis,
                                                      objection_until, until)
                notifications.notify(tx, basis.subject_ref, "listing_proposed" if status == ls.PROPOSED
                                     else "listing_changed", listing_id, kind.code if status == ls.PROPOSED
                                     else "listed")
                view = ls.get(tx, listing_id)
                return describe(rt, tx, view, None, institutions(tx, {cmd.provider.client_id}),
                                ls.versions(tx, [listing_id]).get(listing_id, []))
        except IntegrityError:
            # Two proposals at once: the partial unique index let the first in.
            raise ListingOpen(f"record {cmd.record_id} already rests a {cmd.kind} listing that has not ended") \
                from None
    raise AssertionError("unreachable")


def my_listings(rt: Runtime, subject_ref: str, listing_id: str | None, request_id: str | None) -> list[dict[str, Any]]:
    """Return the person's listings (or the one named) with their texts, clocks and remedies; the read is recorded."""
    access = _person(subject_ref, request_id)
    with denials_audited(rt.uow, access, Tag.LISTING_DENIED, subject_ref), rt.uow.begin(access) as tx:
        views = (ls.list_for_person(tx, subject_ref) if listing_id is None
                 else [ls.get_for_person(tx, listing_id, subject_ref)])
        ids = [v.id for v in views]
        texts = rt.vault.read_listings(tx, subject_ref, ids) if views else {}
        history = ls.versions(tx, ids)
        names = institutions(tx, {v.provider_id for v in views})
        return [describe(rt, tx, v, texts.get(v.id), names, history.get(v.id, [])) for v in views]
    raise AssertionError("unreachable")


def object_to(rt: Runtime, cmd: ObjectToListing) -> dict[str, Any]:
    """File the person's objection to a proposed listing: it does not take effect until the objection is decided.

    Raises ListingStepOutOfOrder (no longer proposed, or an objection already waits) or ObjectionOpen.
    """
    access = _person(cmd.subject_ref, cmd.request_id)
    with denials_audited(rt.uow, access, Tag.LISTING_DENIED, cmd.subject_ref):
        ob.check_evidence(rt.policy.objections.evidence, cmd.evidence)
        try:
            with rt.uow.begin(access) as tx:
                view = ls.get_for_person(tx, cmd.listing_id, cmd.subject_ref)
                ls.check_may_object(view)
                accept_by = rt.policy.objections.deadline("accept", tx.today)
                objection_id, _ = rt.vault.file_objection(tx, cmd.subject_ref, view.record_id, cmd.reason,
                                                          cmd.evidence, accept_by)
                ls.mark_objected(tx, view, objection_id)
                after = ls.get(tx, view.id)
                out = describe(rt, tx, after, None, institutions(tx, {view.provider_id}),
                               ls.versions(tx, [view.id]).get(view.id, []))
                return {**out, "objection": {"id": objection_id, "status": ob.SUBMITTED,
                                             "accept_by": accept_by.isoformat(),
                                             "follow_at": f"/api/v1/me/objections/{objection_id}"}}
        except IntegrityError:
            # Two objections at once: the partial unique index on open objections let the first in.
            raise ObjectionOpen(f"listing {cmd.listing_id}: its record already has an open objection") from None
    raise AssertionError("unreachable")


def agency_queue(rt: Runtime, provider: Provider, status: str | None, request_id: str | None) -> list[dict[str, Any]]:
    """Return the agency's listings (those not ended, or of one status) with their clocks; no texts."""
    with rt.uow.begin(_agency(provider.client_id, request_id), readonly=True) as tx:
        views = ls.queue(tx, provider.client_id, status)
        names = institutions(tx, {provider.client_id})
        history = ls.versions(tx, [v.id for v in views])
        return [describe(rt, tx, v, None, names, history.get(v.id, [])) for v in views]


def end(rt: Runtime, cmd: EndListing) -> dict[str, Any]:
    """Withdraw the agency's proposal or remove its listing, as a version with the agency's reason."""
    access = _agency(cmd.provider.client_id, cmd.request_id)
    with denials_audited(rt.uow, access, Tag.LISTING_DENIED), rt.uow.begin(access) as tx:
        view = ls.get_for_agency(tx, cmd.listing_id, cmd.provider.client_id)
        cause = "withdrawn" if view.status == ls.PROPOSED else "agency_decision"
        version = ls.end(tx, rt.policy.lists, view, cause, cmd.provider.client_id)
        rt.vault.seal_listing_words(tx, view.id, version, cmd.reason)
        after = ls.get(tx, view.id)
        return describe(rt, tx, after, None, institutions(tx, {cmd.provider.client_id}),
                        ls.versions(tx, [view.id]).get(view.id, []))
    raise AssertionError("unreachable")


def run_clock(rt: Runtime) -> dict[str, list[str]]:
    """Put into effect the listings whose window has passed, and end those whose period is over."""
    with rt.uow.begin(AccessContext(actor="xinyong", role="system", basis=BASIS)) as tx:
        took = ls.take_effect_due(tx, rt.policy.lists)
        ended = ls.end_expired(tx, rt.policy.lists)
        return {"took_effect": took, "ended": ended}


# --- what other workflows do to listings --------------------------------------------------------------


def objection_linked(tx: Tx, objection_id: str) -> ListingView | None:
    """Return the listing an objection was filed against, if any."""
    return ls.for_objection(tx, objection_id)


def check_listing_outcome(outcome: str | None) -> None:
    """Raise RequestInvalid for a decision an objection to a listing cannot have: it is dropped or upheld."""
    if outcome == "corrected":
        raise RequestInvalid("outcome", "an objection to a proposed listing is decided revoked (the listing is "
                                        "dropped, the record stays) or upheld (the listing may take effect)")


def after_objection(rt: Runtime, tx: Tx, listing: ListingView, step: str, outcome: str | None, actor: str) -> None:
    """Carry an objection's answer over to its listing: revoked drops it; refused or upheld lets it take effect."""
    if step == "accept":
        return
    ls.objection_decided(tx, rt.policy.lists, listing, outcome == "revoked", actor)


def record_ended(rt: Runtime, tx: Tx, record_id: str, cause: str, actor: str) -> list[str]:
    """End the listings resting on a record that was repaired, revoked or corrected; return their ids."""
    return ls.end_for_record(tx, rt.policy.lists, record_id, cause, actor)
