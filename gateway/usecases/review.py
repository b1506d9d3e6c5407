"""Use cases of auditors: read the audit log by filter, export it, and report anomalies.

Reading the log is itself an access (查询使用登记): every page, export and anomaly report is recorded as an
`audit:entries:read` entry in the same transaction as the read, with the filters used. A person filter is
recorded as the person's blind index, never as the citizen ID the auditor typed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from audit import review
from audit.clock import today
from audit.review import Anomaly, EntryFilter, EntryView, Thresholds
from audit.tags import Tag
from audit.tx import AccessContext, Tx
from consent import objections, repairs
from gateway.errors import ExportTooLarge, InvalidInput
from gateway.models import Client
from gateway.runtime import Runtime
from vault.identity import normalise_citizen_id

DEFAULT_LIMIT = 100
EXPORT_BATCH = 1000
REVIEW_BASIS = "query-use registration and review (查询使用登记和审查)"


@dataclass(frozen=True)
class AuditSearch:
    """An auditor's filters; `person` is a citizen ID, turned into its blind index before any use."""

    actor: str | None = None
    staff: str | None = None
    institution: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    person: str | None = field(default=None, repr=False)
    cursor: int | None = None
    limit: int | None = None
    format: str | None = None


@dataclass(frozen=True)
class EntryPage:
    entries: tuple[EntryView, ...]
    next_before: int | None


@dataclass(frozen=True)
class Export:
    """An export about to be streamed: the entries matching `filter` numbered up to `upto`, `count` of them."""

    filter: EntryFilter
    upto: int
    count: int


@dataclass(frozen=True)
class InstitutionRef:
    id: str
    name: str
    kind: str | None


@dataclass(frozen=True)
class LateFiler:
    """A source agency that filed records after their publication deadline (DISC-4) in the window."""

    provider: InstitutionRef
    filed: int
    late: int

    @property
    def late_rate(self) -> float:
        """Return late / filed, rounded to four places."""
        return round(self.late / self.filed, 4)

    @property
    def reason(self) -> str:
        return (f"{self.late} of {self.filed} records due within a publication deadline (licences and penalties: "
                f"working days after the decision) were filed after it ({self.late / self.filed:.0%})")


@dataclass(frozen=True)
class AnomalyReport:
    since: datetime
    until: datetime
    median_queries: float
    thresholds: Thresholds
    anomalies: tuple[tuple[InstitutionRef, Anomaly], ...]
    late_filers: tuple[LateFiler, ...] = ()


def entry_filter(rt: Runtime, search: AuditSearch) -> EntryFilter:
    """Return the filter of a search; raises InvalidCitizenId (field `person`) for a malformed citizen ID."""
    subject_ref = None
    if search.person is not None:
        citizen_id = normalise_citizen_id(search.person, today(rt.clock), field="person")
        subject_ref = rt.vault.subject_ref(citizen_id)
    return EntryFilter(actor=search.actor, institution=search.institution, action=search.action,
                       outcome=search.outcome, since=search.since, until=search.until, subject_ref=subject_ref,
                       staff=search.staff)


def _auditor(auditor: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=auditor, role="auditor", basis=REVIEW_BASIS, request_id=request_id)


def _record_read(tx: Tx, f: EntryFilter, **detail: Any) -> None:
    tx.record(Tag.AUDIT_READ, subject_ref=f.subject_ref, detail={**detail, "filters": f.describe()})


def search(rt: Runtime, auditor: str, query: AuditSearch, request_id: str | None) -> EntryPage:
    """Return one page of matching entries, newest first, and record the read."""
    f = entry_filter(rt, query)
    limit = query.limit or DEFAULT_LIMIT
    with rt.uow.begin(_auditor(auditor, request_id)) as tx:
        # One more than asked says whether another page exists; this read's own entry comes after, so a
        # walk never meets the entries its own pages add.
        found = review.newest_first(tx.session, f, before=query.cursor, limit=limit + 1)
        shown = tuple(found[:limit])
        _record_read(tx, f, operation="page", before=query.cursor, limit=limit,
                     returned=len(shown), seqs=[shown[-1].seq, shown[0].seq] if shown else [])
    return EntryPage(shown, shown[-1].seq if len(found) > limit else None)


def open_export(rt: Runtime, auditor: str, query: AuditSearch, fmt: str, request_id: str | None) -> Export:
    """Record the export and return what to stream: every matching entry committed before it.

    Raises InvalidInput when paging fields are given, or when more entries match than the configured maximum.
    """
    if query.cursor is not None or query.limit is not None:
        raise InvalidInput("cursor" if query.cursor is not None else "limit",
                           "an export has every matching entry: leave out cursor and limit")
    f = entry_filter(rt, query)
    cap = rt.settings.audit_export_max_entries
    with rt.uow.begin(_auditor(auditor, request_id)) as tx:
        upto = review.last_seq(tx.session)
        matching = review.count(tx.session, f, upto=upto)
        if matching > cap:
            raise ExportTooLarge("until", f"{matching} entries match, more than the {cap} an export may hold: "
                                          "narrow the filters, for example the time range")
        _record_read(tx, f, operation="export", format=fmt, upto=upto, returned=matching)
    return Export(f, upto, matching)


def export_entries(rt: Runtime, export: Export) -> Iterator[EntryView]:
    """Yield the entries of an export, oldest first, a short transaction per batch.

    Entries never change and numbers up to `upto` were all committed before the export was recorded (the
    counter lock serialises appends), so the batches read one consistent snapshot.
    """
    after = 0
    while True:
        with rt.uow.begin(AccessContext(actor="export", role="auditor"), readonly=True) as tx:
            batch = review.oldest_first(tx.session, export.filter, after=after, upto=export.upto,
                                        limit=EXPORT_BATCH)
        yield from batch
        if len(batch) < EXPORT_BATCH:
            return
        after = batch[-1].seq


def thresholds(rt: Runtime) -> Thresholds:
    """Return the anomaly thresholds configured."""
    s = rt.settings
    return Thresholds(volume_factor=s.anomaly_volume_factor, min_queries=s.anomaly_min_queries,
                      refusal_rate=s.anomaly_refusal_rate, off_hours_share=s.anomaly_off_hours_share)


def anomalies(rt: Runtime, auditor: str, since: datetime | None, until: datetime | None,
              request_id: str | None) -> AnomalyReport:
    """Return the anomalies of the window (default: the configured number of days up to now); record the read."""
    end = until or rt.clock.now()
    start = since or end - timedelta(days=rt.settings.anomaly_window_days)
    if start >= end:
        raise InvalidInput("since", "must be earlier than until")
    purpose_kinds = {code: p.institution_kinds for code, p in rt.purposes.purposes.items()}
    limits = thresholds(rt)
    with rt.uow.begin(_auditor(auditor, request_id)) as tx:
        institutions = {row.client_id: InstitutionRef(row.client_id, row.name, row.kind)
                        for row in tx.session.execute(select(Client).where(Client.role == "institution")).scalars()}
        activity = review.query_activity(tx.session, start, end, purpose_kinds,
                                         {k: v.kind for k, v in institutions.items()})
        found = review.find_anomalies(activity, limits)
        overdue = _overdue_objections(tx)
        found.extend(overdue)
        institutions.update(_agencies(tx, {a.institution for a in overdue} - set(institutions)))
        late = _late_filers(tx, rt, start, end)
        _record_read(tx, EntryFilter(since=start, until=end), operation="anomalies", returned=len(found),
                     late_filers=len(late))
    return AnomalyReport(
        since=start, until=end, median_queries=review.median_queries(activity), thresholds=limits,
        # A query by a client that is no longer an institution still shows, under its bare id.
        anomalies=tuple((institutions.get(a.institution) or InstitutionRef(a.institution, a.institution, None), a)
                        for a in found),
        late_filers=late,
    )


def _late_filers(tx: Tx, rt: Runtime, start: datetime, end: datetime) -> tuple[LateFiler, ...]:
    """Return the agencies that filed late in [start, end), the highest late rate first."""
    rates = [rate for rate in rt.vault.filing_rates(tx.session, start, end) if rate.late]
    names = {row.client_id: row.name for row in tx.session.execute(
        select(Client).where(Client.client_id.in_([rate.provider_id for rate in rates]))).scalars()}
    filers = [LateFiler(InstitutionRef(rate.provider_id, names.get(rate.provider_id, rate.provider_id), None),
                        rate.filed, rate.late) for rate in rates]
    return tuple(sorted(filers, key=lambda f: (-f.late / f.filed, f.provider.id)))


def _overdue_objections(tx: Tx) -> list[Anomaly]:
    """Return an "overdue" anomaly per objection step or repair decision past its deadline, recording new lapses.

    Not bound to the window: a step is overdue until it is taken, however long ago it opened.
    """
    # The lapse is the system's finding, not the auditor's act: its entry is recorded as such.
    objections.record_overdue(tx.acting_as(AccessContext(actor="xinyong", role="system")))
    found = []
    for view in objections.overdue(tx.session, tx.today):
        assert view.due is not None
        assert view.open_step is not None
        late = (tx.today - view.due).days
        found.append(Anomaly(
            view.provider_id, review.OVERDUE, late, 0,
            f"objection {view.id}: the {view.open_step} step was due by {view.due.isoformat()} "
            f"and is {late} day{'s' if late != 1 else ''} late", step=view.open_step, objection_id=view.id,
            deadline=view.due))
    repairs.record_overdue(tx.acting_as(AccessContext(actor="xinyong", role="system")))
    for application in repairs.overdue(tx.session, tx.today):
        late = (tx.today - application.decide_by).days
        found.append(Anomaly(
            application.provider_id, review.OVERDUE, late, 0,
            f"repair application {application.id}: the decision was due by {application.decide_by.isoformat()} "
            f"and is {late} day{'s' if late != 1 else ''} late", step="repair_decide", repair_id=application.id,
            deadline=application.decide_by))
    return found


def _agencies(tx: Tx, ids: set[str]) -> dict[str, InstitutionRef]:
    if not ids:
        return {}
    rows = tx.session.execute(select(Client.client_id, Client.name, Client.kind).where(Client.client_id.in_(ids)))
    return {cid: InstitutionRef(cid, name, kind) for cid, name, kind in rows}
