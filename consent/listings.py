"""Lists (名单, LIST-1 to LIST-10): who may list whom, the prior notice and its objection window, the exits.

    black:  proposed ──window passed, no open objection──> in_effect ──repair | period end | agency──> ended
               └──objection upheld | agency withdraws | record revoked──> dropped
    red:    in_effect <──black listing ends── suspended (while the person is on the black list, LIST-10)
               └──period end | agency | record revoked──> ended

A black listing (the serious-dishonesty list) is proposed by an agency at county level or above (LIST-6) on
one of its own records of serious dishonesty, and the person is told at once its reason, basis, measures,
removal conditions and their remedies (LIST-4, LIST-5, LIST-7). It takes effect only once the objection
window has passed with no objection waiting for its decision; an objection upheld drops it. The window, the
lowest level and the period are the catalogue's rules for SERIOUS_DISHONESTY_LIST (its notice before
decision, its minimum provider level, its display period): the same five working days an agency filing a
listing record must have given. A red (commendation) listing takes effect at once, is refused for a person
on the black list (409 listed), and is suspended while a black listing is in effect (LIST-10).

Every change of status is a conditional UPDATE (the second of two racers finds the status changed) and a
new row of `listing_versions` with its cause, audited and told to the person. The texts (reason, basis, an
agency's words) are sealed by the vault; this module touches only the plain columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from sqlalchemy import and_, exists, insert, select, update

from audit.clock import CST
from audit.tags import Tag
from audit.tx import Tx
from consent import notifications
from consent.catalogue import Catalogue, Polarity, Severity
from consent.durations import Duration, add_duration, parse_duration
from consent.entry import window_end
from consent.errors import LevelTooLow, Listed, ListingStepOutOfOrder, ListsInvalid, RequestInvalid
from vault.errors import ListingNotFound, RecordConflict, RecordNotFound
from vault.models import Listing, ListingVersion, Objection, Record, Subject
from vault.types import Provider

BLACK, RED = "black", "red"
PROPOSED, IN_EFFECT, SUSPENDED, DROPPED, ENDED = "proposed", "in_effect", "suspended", "dropped", "ended"
LIVE = (PROPOSED, IN_EFFECT, SUSPENDED)
STATUSES = (*LIVE, DROPPED, ENDED)

# Why a listing changed: the cause of each version, shown to the person with its date.
CAUSES: Mapping[str, str] = MappingProxyType({
    "proposed": "proposed by the agency; the person was told and may object within the window (LIST-4)",
    "listed": "listed at once: a commendation needs no prior notice",
    "took_effect": "the objection window passed with no objection waiting for its decision",
    "objection_upheld": "the person's objection was upheld: the listing is dropped",
    "objection_decided": "the person's objection was decided against them",
    "withdrawn": "the agency withdrew its proposal",
    "repaired": "the record it rests on was repaired (信用修复)",
    "record_revoked": "the record it rests on was revoked or replaced by a correction",
    "period_ended": "its period ended",
    "agency_decision": "the agency removed it",
    "suspended": "suspended while the person is on the serious-dishonesty list (LIST-10)",
    "restored": "restored: the person is no longer on the serious-dishonesty list",
})


@dataclass(frozen=True, slots=True)
class Measure:
    """A punishment or incentive measure a listing may carry, mandatory or recommended (LIST-15, LIST-16)."""

    code: str
    zh: str
    en: str
    type: str
    basis: str

    def to_public(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en, "type": self.type, "basis": self.basis}


@dataclass(frozen=True, slots=True)
class ListKind:
    """One list: its catalogue category, who may propose, on which records, its window, period and exits."""

    code: str
    zh: str
    en: str
    category: str
    window_days: int | None  # working days of the objection window; None: no prior notice
    window_reason: str | None
    min_level: str
    min_level_reason: str
    period: Duration
    period_reason: str
    basis_polarity: Polarity
    basis_severities: frozenset[Severity]
    basis_reason: str
    measures: Mapping[str, Measure]
    removal: Mapping[str, str]
    monitoring: Duration | None
    monitoring_reason: str | None

    def to_public(self) -> dict[str, Any]:
        return {
            "code": self.code, "zh": self.zh, "en": self.en, "category": self.category,
            "prior_notice": None if self.window_days is None else {
                "objection_window_working_days": self.window_days, "reason": self.window_reason},
            "min_provider_level": self.min_level, "min_provider_level_reason": self.min_level_reason,
            "period": self.period.isoformat(), "period_reason": self.period_reason,
            "basis": {"polarity": self.basis_polarity.value,
                      "severities": sorted(s.value for s in self.basis_severities), "reason": self.basis_reason},
            "measures": [m.to_public() for m in self.measures.values()],
            "removal": dict(self.removal),
            "monitoring_after_exit": None if self.monitoring is None else {
                "period": self.monitoring.isoformat(), "reason": self.monitoring_reason},
        }


@dataclass(frozen=True, slots=True)
class ListRules:
    """The lists, the remedies and the rights a person is told of, each with its reason."""

    version: str
    basis: str
    kinds: Mapping[str, ListKind]
    remedies: tuple[Mapping[str, str], ...]
    rights: Mapping[str, str]

    @property
    def categories(self) -> Mapping[str, str]:
        """Return the catalogue category of each list kind."""
        return {k.code: k.category for k in self.kinds.values()}

    def to_public(self) -> dict[str, Any]:
        """Return the rules as published (internal notes left out)."""
        return {"version": self.version, "basis": self.basis, "kinds": [k.to_public() for k in self.kinds.values()],
                "remedies": [dict(r) for r in self.remedies], "rights": dict(self.rights)}

    def notice(self, kind: str) -> dict[str, Any]:
        """Return what a person is told of a listing of this kind besides its own texts (LIST-5, LIST-7)."""
        found = self.kinds[kind]
        return {"removal": dict(found.removal), "remedies": [dict(r) for r in self.remedies],
                "rights": dict(self.rights)}


def parse_rules(raw: Mapping[str, Any], catalogue: Catalogue) -> ListRules:
    """Return the rules of a lists file, checked against the catalogue; raise ListsInvalid naming what is wrong."""
    try:
        kinds = {item["code"]: _kind(item, catalogue) for item in raw["kinds"]}
        if set(kinds) != {BLACK, RED}:
            raise ListsInvalid("kinds must be exactly black and red")
        remedies = tuple(MappingProxyType(dict(r)) for r in raw["remedies"])
        if {"objection", "administrative_reconsideration", "administrative_litigation"} - {r["code"] for r in remedies}:
            raise ListsInvalid("remedies must name objection, administrative reconsideration and litigation (LIST-7)")
        return ListRules(str(raw["version"]), str(raw["basis"]), MappingProxyType(kinds), remedies,
                         MappingProxyType(dict(raw["rights"])))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ListsInvalid):
            raise
        raise ListsInvalid(f"malformed lists file: {exc!r}") from exc


def _kind(item: Mapping[str, Any], catalogue: Catalogue) -> ListKind:
    code = item["code"]
    if item["category"] not in catalogue.categories:
        raise ListsInvalid(f"kinds.{code}.category {item['category']!r} is not in the catalogue")
    category = catalogue.category(item["category"])
    window_days, window_reason = None, None
    if item["prior_notice"]:
        # The window is the catalogue's notice before a listing decision: one rule, not two.
        if category.notice is None:
            raise ListsInvalid(f"kinds.{code}: {category.code} has no notice_before_decision to take the window from")
        window_days, window_reason = category.notice.working_days, category.notice.reason
    level = item.get("min_provider_level", category.min_provider_level)
    level_reason = item.get("min_provider_level_reason", category.min_provider_level_reason)
    if level not in catalogue.level_codes or not str(level_reason or "").strip():
        raise ListsInvalid(f"kinds.{code}: a lowest agency level of the catalogue, with its reason, is required")
    measures = {m["code"]: Measure(m["code"], m["zh"], m["en"], m["type"], m["basis"]) for m in item["measures"]}
    if not measures or any(m.type not in ("mandatory", "recommended") for m in measures.values()):
        raise ListsInvalid(f"kinds.{code}.measures: each is mandatory or recommended (LIST-16)")
    severities = frozenset(Severity(s) for s in item.get("basis_severities", ()))
    polarity = Polarity.NEGATIVE if severities else Polarity(item["basis_polarity"])
    monitoring = item.get("monitoring_after_exit")
    return ListKind(
        code, item["zh"], item["en"], category.code, window_days, window_reason, level, str(level_reason),
        category.display_period, category.display_period_reason, polarity, severities, item["basis_reason"],
        MappingProxyType(measures), MappingProxyType(dict(item["removal"])),
        None if monitoring is None else parse_duration(monitoring["period"]),
        None if monitoring is None else monitoring["reason"])


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (resources.files("consent") / "data" / "lists.json").read_text(encoding="utf-8"))
    return loaded


def load_default_rules(catalogue: Catalogue) -> ListRules:
    """Return the shipped rules (``consent/data/lists.json``), checked against the catalogue."""
    return parse_rules(_shipped(), catalogue)


# --- who may propose what -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Basis:
    """The record a listing rests on, and its person."""

    record_id: str
    subject_id: int
    subject_ref: str
    category: str


def check_measures(kind: ListKind, measures: Sequence[str]) -> None:
    """Raise RequestInvalid unless every measure is one of the list's published measures, each named once."""
    if not measures:
        raise RequestInvalid("measures", "name at least one measure")
    if len(set(measures)) != len(measures):
        raise RequestInvalid("measures", "a measure is named twice")
    for n, code in enumerate(measures):
        if code not in kind.measures:
            raise RequestInvalid(f"measures.{n}", f"must be one of {', '.join(kind.measures)} (LIST-15)")


def check_may_propose(tx: Tx, catalogue: Catalogue, kind: ListKind, provider: Provider, record_id: str) -> Basis:
    """Return the record a listing may rest on, or raise why not.

    LevelTooLow (the agency's level, LIST-6, LIST-12), RecordNotFound (not the agency's record: it lists only
    on its own determinations), RecordConflict (revoked or repaired), RequestInvalid (a record of the wrong
    kind), Listed (a red listing for a person on the black list, LIST-10).
    """
    if not catalogue.level_at_least(provider.level, kind.min_level):
        raise LevelTooLow(kind.code, provider.level, kind.min_level, kind.min_level_reason.rstrip("."))
    row = tx.session.execute(
        select(Record.subject_id, Subject.subject_ref, Record.category, Record.status, Record.repaired_at)
        .join(Subject, Subject.id == Record.subject_id)
        .where(Record.id == record_id, Record.provider_id == provider.client_id)).one_or_none()
    if row is None:
        raise RecordNotFound(record_id)
    if row.status != "active" or row.repaired_at is not None:
        state = "repaired" if row.repaired_at is not None else row.status
        raise RecordConflict(f"record {record_id} is {state}: no listing may rest on it")
    category = catalogue.category(row.category)
    if category.polarity is not kind.basis_polarity or (
            kind.basis_severities and category.severity not in kind.basis_severities):
        raise RequestInvalid("record_id", f"a {kind.code} listing may not rest on a {category.code} record: "
                                          f"{kind.basis_reason}")
    if kind.code == RED and black_listed(tx, row.subject_id):
        raise Listed("the person is on the serious-dishonesty list: no commendation listing while it lasts "
                     "(LIST-10)")
    return Basis(record_id, row.subject_id, row.subject_ref, row.category)


def black_listed(tx: Tx, subject_id: int) -> bool:
    """Tell whether a black listing of the person is in effect."""
    return tx.session.execute(select(exists().where(
        Listing.subject_id == subject_id, Listing.kind == BLACK, Listing.status == IN_EFFECT))).scalar_one()


def first_status(kind: ListKind, today: date) -> tuple[str, date | None, date | None]:
    """Return a new listing's status, the last day of its objection window and the day it ends, if in effect."""
    if kind.window_days is None:
        return IN_EFFECT, None, add_duration(today, kind.period)
    return PROPOSED, window_end(today, kind.window_days), None


# --- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingView:
    """A listing's plain columns, never its texts."""

    id: str
    record_id: str
    subject_ref: str
    subject_id: int
    provider_id: str
    kind: str
    status: str
    version: int
    measures: str
    proposed_at: datetime
    objection_until: date | None
    objection_id: str | None
    objection_open: bool
    effective_at: datetime | None
    until: date | None
    ended_at: datetime | None
    end_cause: str | None
    monitored_until: date | None

    @property
    def measure_codes(self) -> list[str]:
        return self.measures.split(",") if self.measures else []

    def may_object_on(self, today: date) -> bool:
        """Tell whether the person may still object: proposed, and no objection of theirs waiting."""
        return self.status == PROPOSED and not self.objection_open

    def monitored_on(self, today: date) -> bool:
        """Tell whether the person is still under key credit monitoring after this listing ended (LIST-9)."""
        return self.monitored_until is not None and today < self.monitored_until


_VIEW = (select(Listing.id, Listing.record_id, Subject.subject_ref, Listing.subject_id, Listing.provider_id,
                Listing.kind, Listing.status, Listing.version, Listing.measures, Listing.proposed_at,
                Listing.objection_until, Listing.objection_id, Listing.objection_open, Listing.effective_at,
                Listing.until, Listing.ended_at, Listing.end_cause, Listing.monitored_until)
         .join(Subject, Subject.id == Listing.subject_id))


def _view(row: Any) -> ListingView:
    return ListingView(*row)


def get(tx: Tx, listing_id: str) -> ListingView:
    """Return a listing by id; ListingNotFound otherwise."""
    row = tx.session.execute(_VIEW.where(Listing.id == listing_id)).first()
    if row is None:
        raise ListingNotFound(listing_id)
    return _view(row)


def get_for_agency(tx: Tx, listing_id: str, provider_id: str) -> ListingView:
    """Return the agency's listing; ListingNotFound for any other agency's (it must not learn of it)."""
    row = tx.session.execute(_VIEW.where(Listing.id == listing_id, Listing.provider_id == provider_id)).first()
    if row is None:
        raise ListingNotFound(listing_id)
    return _view(row)


def get_for_person(tx: Tx, listing_id: str, subject_ref: str) -> ListingView:
    """Return the person's own listing; ListingNotFound otherwise."""
    row = tx.session.execute(_VIEW.where(Listing.id == listing_id, Subject.subject_ref == subject_ref)).first()
    if row is None:
        raise ListingNotFound(listing_id)
    return _view(row)


def list_for_person(tx: Tx, subject_ref: str) -> list[ListingView]:
    """Return the person's listings, newest first: proposed, in effect, suspended, dropped and ended."""
    rows = tx.session.execute(_VIEW.where(Subject.subject_ref == subject_ref)
                              .order_by(Listing.proposed_at.desc(), Listing.id))
    return [_view(r) for r in rows]


def queue(tx: Tx, provider_id: str, status: str | None) -> list[ListingView]:
    """Return the agency's listings (of one status, or those not ended), the nearest clock first."""
    wanted = (status,) if status is not None else LIVE
    rows = tx.session.execute(_VIEW.where(Listing.provider_id == provider_id, Listing.status.in_(wanted)))
    views = [_view(r) for r in rows]
    return sorted(views, key=lambda v: (v.objection_until or v.until or date.max, v.proposed_at, v.id))


def for_objection(tx: Tx, objection_id: str) -> ListingView | None:
    """Return the listing an objection was filed against, if it was."""
    row = tx.session.execute(_VIEW.where(Listing.objection_id == objection_id)).first()
    return None if row is None else _view(row)


def in_effect_for(tx: Tx, subject_ref: str, kinds: Sequence[str]) -> list[ListingView]:
    """Return the person's listings in effect of the kinds named (what a third party may be shown)."""
    if not kinds:
        return []
    rows = tx.session.execute(_VIEW.where(Subject.subject_ref == subject_ref, Listing.status == IN_EFFECT,
                                          Listing.kind.in_(list(kinds))).order_by(Listing.effective_at, Listing.id))
    return [_view(r) for r in rows]


def versions(tx: Tx, listing_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Return the versions of each listing named, oldest first (plain columns; the words are the vault's)."""
    found: dict[str, list[Any]] = {}
    if not listing_ids:
        return found
    rows = tx.session.execute(select(ListingVersion.listing_id, ListingVersion.version, ListingVersion.status,
                                     ListingVersion.cause, ListingVersion.actor, ListingVersion.at)
                              .where(ListingVersion.listing_id.in_(list(listing_ids)))
                              .order_by(ListingVersion.listing_id, ListingVersion.version))
    for row in rows:
        found.setdefault(row.listing_id, []).append(row)
    return found


# --- the changes --------------------------------------------------------------------------------------


def _change(tx: Tx, view: ListingView, expected: Sequence[str], status: str, cause: str, actor: str,
            *, guard: Any = None, **values: Any) -> int:
    """Move the listing from one of `expected` to `status` as a new version with its cause; return the version.

    A conditional UPDATE: of two changes at once, the second finds the status changed and raises
    ListingStepOutOfOrder naming it. The change is audited and told to the person.
    """
    query = update(Listing).where(Listing.id == view.id, Listing.status.in_(list(expected)))
    if guard is not None:
        query = query.where(guard)
    done = tx.session.execute(query.values(status=status, version=Listing.version + 1, **values)
                              .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        current = tx.session.execute(select(Listing.status).where(Listing.id == view.id)).scalar_one()
        raise ListingStepOutOfOrder(view.id, current, f"it cannot become {status} now")
    version = int(tx.session.execute(select(Listing.version).where(Listing.id == view.id)).scalar_one())
    tx.session.execute(insert(ListingVersion).values(listing_id=view.id, version=version, status=status,
                                                     cause=cause, actor=actor, at=tx.now))
    tx.record(Tag.LISTING_CHANGED, subject_ref=view.subject_ref, record_ids=[view.record_id], detail={
        "listing_id": view.id, "kind": view.kind, "institution": view.provider_id, "from": view.status,
        "status": status, "cause": cause, "version": version})
    notifications.notify(tx, view.subject_ref, "listing_changed", view.id, cause)
    return version


def _end_values(tx: Tx, rules: ListRules, view: ListingView, cause: str) -> dict[str, Any]:
    values: dict[str, Any] = {"ended_at": tx.now, "end_cause": cause}
    monitoring = rules.kinds[view.kind].monitoring
    if view.status != PROPOSED and monitoring is not None:
        values["monitored_until"] = add_duration(tx.today, monitoring)  # LIST-9: key credit monitoring after exit
    return values


def take_effect(tx: Tx, rules: ListRules, view: ListingView, actor: str = "xinyong") -> bool:
    """Put a proposed listing whose window has passed into effect, unless an objection to it waits.

    Returns whether it took effect. The guard is in the UPDATE itself, so an objection committed a moment
    before is seen (the row lock orders the two): a listing never takes effect over a waiting objection.
    """
    kind = rules.kinds[view.kind]
    if view.status != PROPOSED or view.objection_until is None or tx.today <= view.objection_until:
        return False
    try:
        _change(tx, view, (PROPOSED,), IN_EFFECT, "took_effect", actor,
                guard=and_(Listing.objection_open.is_(False), Listing.objection_until < tx.today),
                effective_at=tx.now, until=add_duration(tx.today, kind.period))
    except ListingStepOutOfOrder:
        return False
    if view.kind == BLACK:
        suspend_red(tx, view.subject_id)
    return True


def take_effect_due(tx: Tx, rules: ListRules) -> list[str]:
    """Put into effect every proposed listing whose window has passed with no objection waiting; return their ids.

    A listing whose record has an open objection of its own (filed on the record, not the listing) waits too:
    nothing punitive is applied while a record is verified (OBJ-2).
    """
    disputed = exists().where(Objection.record_id == Listing.record_id,
                              Objection.status.in_(("submitted", "accepted")))
    rows = tx.session.execute(_VIEW.where(Listing.status == PROPOSED, Listing.objection_open.is_(False),
                                          Listing.objection_until < tx.today, ~disputed)
                              .order_by(Listing.objection_until, Listing.id))
    # Read them all first: each change below writes on the same connection.
    return [view.id for view in [_view(r) for r in rows] if take_effect(tx, rules, view)]


def end(tx: Tx, rules: ListRules, view: ListingView, cause: str, actor: str) -> int:
    """End a listing (drop it if still proposed) for `cause`; return the new version.

    Ending a black listing restores the person's suspended red listings unless another black one is in effect.
    """
    status = DROPPED if view.status == PROPOSED else ENDED
    version = _change(tx, view, LIVE, status, cause, actor, **_end_values(tx, rules, view, cause))
    if view.kind == BLACK and view.status == IN_EFFECT:
        restore_red(tx, view.subject_id)
    return version


def end_expired(tx: Tx, rules: ListRules) -> list[str]:
    """End every listing in effect or suspended whose period is over; return their ids."""
    rows = tx.session.execute(_VIEW.where(Listing.status.in_((IN_EFFECT, SUSPENDED)), Listing.until <= tx.today)
                              .order_by(Listing.until, Listing.id))
    ended = []
    for view in [_view(r) for r in rows]:
        try:
            end(tx, rules, view, "period_ended", "xinyong")
        except ListingStepOutOfOrder:
            continue  # ended by another meanwhile
        ended.append(view.id)
    return ended


def end_for_record(tx: Tx, rules: ListRules, record_id: str, cause: str, actor: str) -> list[str]:
    """End (or drop) every listing resting on a record that was repaired, revoked or corrected; return their ids."""
    rows = tx.session.execute(_VIEW.where(Listing.record_id == record_id, Listing.status.in_(LIVE)))
    views = [_view(r) for r in rows]
    for view in views:
        end(tx, rules, view, cause, actor)
    return [v.id for v in views]


def suspend_red(tx: Tx, subject_id: int) -> None:
    """Suspend the person's red listings in effect while a black listing lasts (LIST-10)."""
    rows = tx.session.execute(_VIEW.where(Listing.subject_id == subject_id, Listing.kind == RED,
                                          Listing.status == IN_EFFECT))
    for view in [_view(r) for r in rows]:
        _change(tx, view, (IN_EFFECT,), SUSPENDED, "suspended", "xinyong")


def restore_red(tx: Tx, subject_id: int) -> None:
    """Restore the person's suspended red listings once no black listing of theirs is in effect."""
    if black_listed(tx, subject_id):
        return
    rows = tx.session.execute(_VIEW.where(Listing.subject_id == subject_id, Listing.kind == RED,
                                          Listing.status == SUSPENDED))
    for view in [_view(r) for r in rows]:
        _change(tx, view, (SUSPENDED,), IN_EFFECT, "restored", "xinyong")


def _why_not_objectable(status: str) -> str:
    return ("an objection to it already waits for its decision" if status == PROPOSED
            else "only a proposed listing can be objected to here; object to its record at /api/v1/me/objections")


def check_may_object(view: ListingView) -> None:
    """Raise ListingStepOutOfOrder unless the listing is proposed with no objection waiting (before any write)."""
    if view.status != PROPOSED or view.objection_open:
        raise ListingStepOutOfOrder(view.id, view.status, _why_not_objectable(view.status))


def mark_objected(tx: Tx, view: ListingView, objection_id: str) -> None:
    """Tie the person's objection to a proposed listing, which then waits for its decision.

    A conditional UPDATE on the listing's row: an objection and the listing's taking effect at the same
    moment are ordered by the row lock, and the loser is told (ListingStepOutOfOrder, or no effect).
    """
    done = tx.session.execute(update(Listing).where(Listing.id == view.id, Listing.status == PROPOSED,
                                                    Listing.objection_open.is_(False))
                              .values(objection_open=True, objection_id=objection_id)
                              .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        current = tx.session.execute(select(Listing.status).where(Listing.id == view.id)).scalar_one()
        raise ListingStepOutOfOrder(view.id, current, _why_not_objectable(current))
    tx.record(Tag.LISTING_OBJECTED, subject_ref=view.subject_ref, record_ids=[view.record_id], detail={
        "listing_id": view.id, "objection_id": objection_id, "institution": view.provider_id})


def objection_decided(tx: Tx, rules: ListRules, view: ListingView, upheld: bool, actor: str) -> None:
    """Carry an objection's decision over to its listing: drop it if upheld, else let it take effect when due."""
    if view.status != PROPOSED:
        return
    if upheld:
        end(tx, rules, view, "objection_upheld", actor)
        return
    tx.session.execute(update(Listing).where(Listing.id == view.id).values(objection_open=False)
                       .execution_options(synchronize_session=False))
    tx.record(Tag.LISTING_CHANGED, subject_ref=view.subject_ref, record_ids=[view.record_id], detail={
        "listing_id": view.id, "kind": view.kind, "institution": view.provider_id, "from": PROPOSED,
        "status": PROPOSED, "cause": "objection_decided", "version": view.version})
    take_effect(tx, rules, get(tx, view.id), actor)


def for_report(tx: Tx, rules: ListRules, subject_ref: str, categories: Sequence[str]) -> list[dict[str, Any]]:
    """Return the listings in effect a third party may see: those of lists whose category its grant covers.

    Never a proposed, suspended or ended listing, nor its reason or basis (sealed texts stay between the
    person and the agency): the list, its dates and its measures. No grant covering neither category: no query.
    """
    kinds = [k.code for k in rules.kinds.values() if k.category in categories]
    found = []
    for view in in_effect_for(tx, subject_ref, kinds):
        kind = rules.kinds[view.kind]
        found.append({
            "list": view.kind, "list_name": {"zh": kind.zh, "en": kind.en},
            "since": None if view.effective_at is None else view.effective_at.astimezone(CST).date().isoformat(),
            "until": None if view.until is None else view.until.isoformat(),
            "measures": [kind.measures[c].to_public() for c in view.measure_codes if c in kind.measures]})
    return found
