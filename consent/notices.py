"""Notices to past recipients (OBJ-5): an institution that received a record is told when it changes.

When a record is corrected, revoked or withdrawn from display early, every institution that received
it in a report within the look-back of the report's purpose (consent/data/notices.json) gets one signed
notice: the report id, the record's place in that report with its category and decision date (what the
institution saw), and the status. Never the new content: a corrected record reaches an institution
only through a new report under a consent. Each notice is an audit entry about the person.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from sqlalchemy import insert, select

from audit.clock import CST, isoformat_z
from audit.tags import Tag
from audit.tx import Tx
from consent import notifications
from consent.durations import Duration, parse_duration, subtract_duration
from consent.errors import NoticesInvalid
from consent.models import Grant, Notice, Report
from consent.purposes import Purposes
from vault.models import Record, Subject

NOTICE_TYPE = "xinyong-notice+jws"
STATUSES = ("corrected", "revoked", "withdrawn from display", "repaired")


@dataclass(frozen=True, slots=True)
class NoticeRules:
    """How far back the recipients of a record are told, per purpose, with the reasons."""

    version: str
    default: Duration
    default_reason: str
    look_back: Mapping[str, tuple[Duration, str]]
    confirmed: bool

    def period(self, purpose: str) -> Duration:
        """Return the look-back of reports made for `purpose`."""
        found = self.look_back.get(purpose)
        return self.default if found is None else found[0]

    def longest(self) -> Duration:
        """Return the longest look-back, to bound the search for reports."""
        return max([self.default, *(p for p, _ in self.look_back.values())],
                   key=lambda d: (d.years * 12 + d.months) * 31 + d.days)

    def to_public(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "default_look_back": self.default.isoformat(),
            "default_reason": self.default_reason,
            "look_back": [{"purpose": k, "period": d.isoformat(), "reason": r}
                          for k, (d, r) in sorted(self.look_back.items())],
            "confirmed": self.confirmed,
        }


def parse_rules(raw: Mapping[str, Any], purposes: Purposes) -> NoticeRules:
    """Return the rules of a notices file; raise NoticesInvalid naming what is wrong."""
    try:
        default = parse_duration(str(raw["default_look_back"]))
        if not str(raw["default_reason"]).strip():
            raise NoticesInvalid("default_reason is empty")
        look_back = {}
        for item in raw["look_back"]:
            if item["purpose"] not in purposes.purposes:
                raise NoticesInvalid(f"look_back: {item['purpose']} is not a registered purpose")
            if not str(item["reason"]).strip():
                raise NoticesInvalid(f"look_back.{item['purpose']}.reason is empty")
            look_back[item["purpose"]] = (parse_duration(str(item["period"])), str(item["reason"]))
        return NoticeRules(str(raw["version"]), default, str(raw["default_reason"]), MappingProxyType(look_back),
                           bool(raw["confirmed"]))
    except ValueError as exc:
        raise NoticesInvalid(f"a look-back is not an ISO 8601 date duration: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise NoticesInvalid(f"malformed notices file: {exc!r}") from exc


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (resources.files("consent") / "data" / "notices.json").read_text(encoding="utf-8"))
    return loaded


def load_default_rules(purposes: Purposes) -> NoticeRules:
    """Return the shipped rules (``consent/data/notices.json``), checked against the purposes."""
    return parse_rules(_shipped(), purposes)


@dataclass(frozen=True, slots=True)
class NoticeView:
    id: int
    institution_id: str
    report_id: str
    record_id: str
    status: str
    issued_at: datetime
    jws: str


def _view(row: Notice) -> NoticeView:
    return NoticeView(row.id, row.institution_id, row.report_id, row.record_id, row.status, row.issued_at, row.jws)


def tell_past_recipients(tx: Tx, rules: NoticeRules, sign: Callable[[dict[str, Any]], str], record_id: str,
                         status: str) -> list[NoticeView]:
    """Send a signed notice of `status` to every institution that received the record within its look-back.

    One notice per report that released the record (an institution told twice of the same change of the
    same report is told once); each is an audit entry about the person. Returns the notices sent.
    """
    if status not in STATUSES:
        raise ValueError(f"not a notice status: {status!r}")
    record = tx.session.execute(
        select(Record.category, Record.decided_at, Subject.subject_ref)
        .join(Subject, Subject.id == Record.subject_id).where(Record.id == record_id)).one()
    subject_ref = record.subject_ref
    earliest = _start_of(subtract_duration(tx.today, rules.longest()))
    rows = tx.session.execute(
        select(Report.id, Report.institution_id, Report.generated_at, Report.record_ids, Grant.purpose)
        .join(Grant, Grant.id == Report.grant_id)
        .where(Report.subject_ref == subject_ref, Report.generated_at >= earliest)
        .order_by(Report.generated_at, Report.id)
    ).all()
    already = set(tx.session.execute(
        select(Notice.report_id).where(Notice.subject_ref == subject_ref, Notice.record_id == record_id,
                                       Notice.status == status)).scalars())
    notifications.notify(tx, subject_ref, "record_changed", record_id, status)
    sent: list[NoticeView] = []
    for report_id, institution_id, generated_at, record_ids, purpose in rows:
        if not record_ids or record_id not in record_ids or report_id in already:
            continue
        if generated_at < _start_of(subtract_duration(tx.today, rules.period(purpose))):
            continue  # past the look-back of the report's purpose
        document = {
            "notice_type": "record_changed",
            "issued_at": isoformat_z(tx.now),
            "report_id": report_id,
            "record": {"position": record_ids.index(record_id) + 1, "category": record.category,
                       "decided_at": record.decided_at.isoformat()},
            "status": status,
        }
        jws = sign(document)
        notice_id = tx.session.execute(insert(Notice).returning(Notice.id), {
            "institution_id": institution_id, "subject_ref": subject_ref, "report_id": report_id,
            "record_id": record_id, "status": status, "issued_at": tx.now, "jws": jws}).scalar_one()
        tx.under(purpose=purpose).record(
            Tag.NOTICE_SENT, subject_ref=subject_ref, record_ids=[record_id],
            detail={"institution": institution_id, "report_id": report_id, "status": status, "notice_id": notice_id})
        notifications.notify(tx, subject_ref, "notice_sent", str(notice_id), status)
        sent.append(NoticeView(notice_id, institution_id, report_id, record_id, status, tx.now, jws))
    return sent


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CST)


def for_institution(tx: Tx, institution_id: str, limit: int, before: int | None) -> list[NoticeView]:
    """Return the institution's notices, newest first, `limit` of them below id `before`."""
    q = select(Notice).where(Notice.institution_id == institution_id)
    if before is not None:
        q = q.where(Notice.id < before)
    return [_view(r) for r in tx.session.execute(q.order_by(Notice.id.desc()).limit(limit)).scalars()]


def for_records(tx: Tx, subject_ref: str, record_ids: Sequence[str]) -> dict[str, list[NoticeView]]:
    """Return the notices sent about the person's records, by record, oldest first."""
    if not record_ids:
        return {}
    out: dict[str, list[NoticeView]] = {}
    rows = tx.session.execute(
        select(Notice).where(Notice.subject_ref == subject_ref, Notice.record_id.in_(list(record_ids)))
        .order_by(Notice.id)).scalars()
    for row in rows:
        out.setdefault(row.record_id, []).append(_view(row))
    return out


def for_person(tx: Tx, subject_ref: str) -> list[NoticeView]:
    """Return every notice sent on the person's behalf, newest first."""
    rows = tx.session.execute(
        select(Notice).where(Notice.subject_ref == subject_ref).order_by(Notice.id.desc())).scalars()
    return [_view(r) for r in rows]
