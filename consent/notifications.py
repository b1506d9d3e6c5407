"""The person's notifications: kinds and ids stored, words rendered when read (Chinese first).

Nothing stored identifies the person beyond the blind index or quotes their data: a notification is a kind
(a consent request, an objection step, a correction, a notice sent on their behalf...), the id of what it
is about, and a status. The words come from the table below at read time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from audit.clock import isoformat_z
from audit.tx import Tx
from consent.models import Notification

# kind -> (Chinese, English); {status} is the step or status, rendered in both languages below.
TEXTS: dict[str, tuple[str, str]] = {
    "consent_request": ("有机构请求查询您的信用信息, 请决定是否授权。",
                        "An institution asks to query your credit records: approve or deny it."),
    "objection_step": ("您的异议有新进展: {status_zh}。", "Your objection has moved on: {status_en}."),
    "record_changed": ("您的一条信用记录已{status_zh}。", "One of your records was {status_en}."),
    "declaration_step": ("您的自愿申报信息已核实: {status_zh}。",
                         "Your voluntary registration was checked: {status_en}."),
    "commitment_step": ("您的信用承诺已记录履约情况: {status_zh}。",
                        "The outcome of your credit commitment was recorded: {status_en}."),
    "notice_sent": ("已代您通知曾收到该记录的机构: 记录已{status_zh}。",
                    "An institution that received one of your records was told it was {status_en}."),
    # LIST-4, LIST-5, LIST-7: the reason, basis, measures, removal conditions and remedies are read with it.
    "listing_proposed": ("有机构拟将您列入{status_zh}: 生效前您可陈述、申辩并提出异议, 详见事由、依据、惩戒措施、"
                         "移出条件及救济途径。",
                         "An agency proposes to put you on the {status_en}: before it takes effect you may state "
                         "your case and object; read its reason, basis, measures, removal conditions and remedies."),
    "listing_changed": ("您的一项名单信息有变化: {status_zh}。", "One of your listings changed: {status_en}."),
}
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "accepted": ("受理", "accepted"),
    "refused": ("不予受理", "refused"),
    "corrected": ("更正", "corrected"),
    "revoked": ("撤销", "revoked"),
    "upheld": ("维持", "upheld"),
    "withdrawn from display": ("停止公示", "withdrawn from display"),
    "extended": ("延长公示", "extended"),
    "repaired": ("完成信用修复", "repaired"),
    "black": ("严重失信主体名单", "serious-dishonesty list"),
    "red": ("守信激励名单(红名单)", "commendation (red) list"),
    "took_effect": ("名单已生效", "it took effect"),
    "objection_upheld": ("异议成立, 不予列入", "your objection was upheld and it is dropped"),
    "objection_decided": ("异议不成立", "your objection was not upheld"),
    "withdrawn": ("认定部门撤回拟列入决定", "the agency withdrew its proposal"),
    "record_revoked": ("所依据的记录已撤销或更正, 名单移出", "the record it rests on was revoked or corrected"),
    "period_ended": ("名单期满移出", "its period ended"),
    "agency_decision": ("认定部门决定移出", "the agency removed it"),
    "suspended": ("列入严重失信主体名单期间暂停", "suspended while you are on the serious-dishonesty list"),
    "restored": ("已恢复", "restored"),
    "listed": ("已列入", "listed"),
    "verified": ("核实无误", "verified"),
    "false": ("经核实不实, 已记为违背信用承诺", "found false, recorded as a broken commitment"),
    "fulfilled": ("已履约", "fulfilled"),
    "breached": ("未履约", "breached"),
}
KINDS = tuple(TEXTS)


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    kind: str
    ref: str
    status: str | None
    created_at: datetime
    read_at: datetime | None

    def text(self) -> dict[str, str]:
        """Return the words, Chinese first, rendered now from the kind and status."""
        zh, en = TEXTS[self.kind]
        szh, sen = STATUS_WORDS.get(self.status or "", (self.status or "", self.status or ""))
        return {"zh": zh.format(status_zh=szh), "en": en.format(status_en=sen)}

    def to_public(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "ref": self.ref, "status": self.status,
                "at": isoformat_z(self.created_at), "read": self.read_at is not None, "text": self.text()}


_ADD = insert(Notification)

# A consent request made while the person's file was frozen is never shown to them (it lapses unanswered):
# its notification is stored like any other, so that a frozen file costs the same work as an unknown person's,
# but with this status, and nothing that reads notifications returns it.
WITHHELD = "withheld"
_SHOWN = or_(Notification.status.is_(None), Notification.status != WITHHELD)


def notify(tx: Tx, subject_ref: str, kind: str, ref: str, status: str | None = None) -> None:
    """Tell the person of something: its kind and id, stored in this transaction."""
    if kind not in TEXTS:
        raise ValueError(f"not a notification kind: {kind!r}")
    tx.session.connection().execute(_ADD, {"subject_ref": subject_ref, "kind": kind, "ref": ref, "status": status,
                                           "created_at": tx.now, "read_at": None})


def _view(row: Notification) -> NotificationView:
    return NotificationView(row.id, row.kind, row.ref, row.status, row.created_at, row.read_at)


def for_person(tx: Tx, subject_ref: str, limit: int, before: int | None = None) -> list[NotificationView]:
    """Return the person's notifications, newest first, `limit` of them below id `before`."""
    q = select(Notification).where(Notification.subject_ref == subject_ref, _SHOWN)
    if before is not None:
        q = q.where(Notification.id < before)
    return [_view(r) for r in tx.session.execute(q.order_by(Notification.id.desc()).limit(limit)).scalars()]


def unread(tx: Tx, subject_ref: str) -> int:
    """Return how many of the person's notifications are unread."""
    return int(tx.session.execute(select(func.count()).select_from(Notification).where(
        Notification.subject_ref == subject_ref, Notification.read_at.is_(None), _SHOWN)).scalar_one())


def mark_read(tx: Tx, subject_ref: str, ids: list[int] | None) -> int:
    """Mark the person's notifications read (those of `ids`, or all); another's ids are left alone."""
    q = update(Notification).where(Notification.subject_ref == subject_ref, Notification.read_at.is_(None), _SHOWN)
    if ids is not None:
        q = q.where(Notification.id.in_(ids))
    result = tx.session.execute(q.values(read_at=tx.now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
