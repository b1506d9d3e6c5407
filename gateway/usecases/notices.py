"""Use cases of notices to past recipients (OBJ-5): sent where a record changes, read by institutions.

`tell` is called inside the transaction that corrects, revokes or ends a record, so a notice is sent
exactly when the change commits; the institution reads its own notices, a page at a time.
"""

from __future__ import annotations

from typing import Any

from audit.clock import isoformat_z
from audit.tx import AccessContext, Tx
from consent import notices, notifications
from consent.notices import NoticeView
from gateway.runtime import Runtime


def tell(rt: Runtime, tx: Tx, record_id: str, status: str) -> list[NoticeView]:
    """Send the signed notices of a change of `record_id` to the institutions that received it."""
    return notices.tell_past_recipients(tx, rt.policy.notices, lambda d: rt.vault.sign(d, notices.NOTICE_TYPE),
                                        record_id, status)


def notice_out(view: NoticeView) -> dict[str, Any]:
    """Return a notice as its institution sees it (the claims of the JWS and the JWS itself)."""
    return {"id": view.id, "issued_at": isoformat_z(view.issued_at), "report_id": view.report_id,
            "status": view.status, "jws": view.jws}


def institution_notices(rt: Runtime, institution_id: str, limit: int, before: int | None,
                        request_id: str | None) -> tuple[list[dict[str, Any]], int | None]:
    """Return a page of the institution's notices, newest first, and the id the next page starts below."""
    access = AccessContext(actor=institution_id, role="institution", request_id=request_id)
    with rt.uow.begin(access, readonly=True) as tx:
        views = notices.for_institution(tx, institution_id, limit + 1, before)
    more = len(views) > limit
    views = views[:limit]
    out = [{**notice_out(v), "notice": rt.vault.verify(v.jws)} for v in views]
    return out, (views[-1].id if more and views else None)


def told_out(view: NoticeView, names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return a notice as the person sees it: which institution was told what, of which report, when."""
    return {"institution": names.get(view.institution_id, {"id": view.institution_id, "name": view.institution_id}),
            "report_id": view.report_id, "status": view.status, "at": isoformat_z(view.issued_at)}


def my_notifications(rt: Runtime, subject_ref: str, limit: int, before: int | None,
                     request_id: str | None) -> dict[str, Any]:
    """Return a page of the person's notifications, newest first, with the unread count and the words."""
    access = AccessContext(actor=subject_ref, role="person", request_id=request_id)
    with rt.uow.begin(access, readonly=True) as tx:
        views = notifications.for_person(tx, subject_ref, limit + 1, before)
        count = notifications.unread(tx, subject_ref)
    more = len(views) > limit
    views = views[:limit]
    return {"notifications": [v.to_public() for v in views], "unread": count,
            "next_before": views[-1].id if more and views else None}


def mark_read(rt: Runtime, subject_ref: str, ids: list[int] | None, request_id: str | None) -> dict[str, Any]:
    """Mark the person's notifications read (those of `ids`, or all); return how many and the unread left."""
    access = AccessContext(actor=subject_ref, role="person", request_id=request_id)
    with rt.uow.begin(access) as tx:
        marked = notifications.mark_read(tx, subject_ref, ids)
        return {"marked": marked, "unread": notifications.unread(tx, subject_ref)}
