"""The personal integrity evaluation: for incentives only, with a breakdown a person can follow (EVAL-1, EVAL-7).

The evaluation holds the attribute "no adverse credit record for three consecutive years" (连续三年无不良信用记录)
and the person's positive records by category, each with the reason it counts. Its rules are data, with their
version and reasons, in ``consent/data/evaluation.json``; this module checks that file against the catalogue and
applies it.

The evaluation may only serve incentives, never punishment (个人诚信评价结果只能用于守信激励): it is composed only
for a purpose marked ``incentive_score`` in the purposes file, and such a purpose receives positive records
only (consent.purposes checks both). An institution learns whether the attribute holds, never which record
broke it; the person sees every adverse record, whether it counts and why, and from when it stops counting.

An adverse record counts when it is still in use today (active, not repaired, shown) and was decided within
the window, or is still in force by a period of its own (a listing until performance, a ban in force): the
same test as a purpose's data range in a release. Expired records are no longer used (不再展示和使用, DP-1);
repaired (信用修复) and revoked ones are no longer held against the person (REP-8, REP-9).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Protocol

from audit.clock import CST
from consent.catalogue import Catalogue, DocumentReader, Label, Polarity, json_document
from consent.durations import Duration, add_duration, not_longer, subtract_duration
from consent.errors import EvaluationInvalid

__all__ = [
    "AdverseRecord",
    "EvaluationRules",
    "Verdict",
    "evaluation_from_json",
    "for_institution",
    "for_person",
    "load_default_rules",
    "parse_evaluation",
]

# The catalogue's own period: anything else is the record's own (a rule, its document, an extension).
_CATALOGUE_PERIOD = "catalogue"


@dataclass(frozen=True)
class EvaluationRules:
    """A parsed, validated evaluation version: the attribute's window and categories, and the positive rules."""

    version: str
    published: date
    basis: str
    use: Label
    name: Label
    window: Duration
    legal_basis: str
    reason: str
    adverse: frozenset[str]
    adverse_reason: str
    positive: Mapping[str, str] = field(hash=False)  # category -> why a record of it counts
    raw: dict[str, object] = field(repr=False, compare=False, hash=False)

    def to_public(self) -> dict[str, Any]:
        """Return the rules as published, with their reasons (internal notes left out)."""
        return {
            "version": self.version,
            "published": self.published.isoformat(),
            "basis": self.basis,
            "use": {"zh": self.use.zh, "en": self.use.en},
            "no_adverse_record": {
                "name": {"zh": self.name.zh, "en": self.name.en}, "window": self.window.isoformat(),
                "legal_basis": self.legal_basis, "reason": self.reason,
                "categories": sorted(self.adverse), "categories_reason": self.adverse_reason,
            },
            "positive": [{"category": code, "reason": reason} for code, reason in self.positive.items()],
        }

    def since(self, today: date) -> date:
        """Return the first decision date inside the window that ends today."""
        return subtract_duration(today, self.window)


class AdverseRecord(Protocol):
    """What the evaluation needs to know of a negative record: no contents, only its dates and state."""

    @property
    def id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def decided_at(self) -> date: ...
    @property
    def display_from(self) -> date: ...
    @property
    def display_until(self) -> date | None: ...
    @property
    def period_source(self) -> str: ...
    @property
    def repaired_at(self) -> datetime | None: ...


class Verdict(StrEnum):
    """Why an adverse record counts against the attribute, or why it does not."""

    DECIDED_WITHIN_WINDOW = "decided_within_window"
    IN_FORCE_BY_OWN_PERIOD = "in_force_by_own_period"
    DECIDED_BEFORE_WINDOW = "decided_before_window"
    DISPLAY_ENDED = "display_ended"
    NOT_YET_SHOWN = "not_yet_shown"
    REPAIRED = "repaired"
    REVOKED = "revoked"

    @property
    def counts(self) -> bool:
        return self in (Verdict.DECIDED_WITHIN_WINDOW, Verdict.IN_FORCE_BY_OWN_PERIOD)


_EXPLAINED = {
    Verdict.DECIDED_WITHIN_WINDOW: Label("决定日期在三年之内,计入", "Counts: decided within the three years"),
    Verdict.IN_FORCE_BY_OWN_PERIOD: Label("仍按自身期限有效,计入", "Counts: still in force by a period of its own"),
    Verdict.DECIDED_BEFORE_WINDOW: Label("决定日期早于三年,不计入", "Does not count: decided before the three years"),
    Verdict.DISPLAY_ENDED: Label("展示期已满,不再使用", "Does not count: its display has ended, it is no longer used"),
    Verdict.NOT_YET_SHOWN: Label("尚未展示,不计入", "Does not count: not shown yet"),
    Verdict.REPAIRED: Label("已信用修复,不计入", "Does not count: repaired (信用修复)"),
    Verdict.REVOKED: Label("已被认定单位撤销,不计入", "Does not count: revoked by the agency that filed it"),
}


def judge(rules: EvaluationRules, record: AdverseRecord, today: date) -> Verdict:
    """Return whether and why an adverse record counts against the attribute today."""
    return _judge(record, today, rules.since(today))


def _judge(record: AdverseRecord, today: date, since: date) -> Verdict:
    if record.status != "active":
        return Verdict.REVOKED
    if record.repaired_at is not None:
        return Verdict.REPAIRED
    if record.display_until is not None and record.display_until <= today:
        return Verdict.DISPLAY_ENDED
    if record.display_from > today:
        return Verdict.NOT_YET_SHOWN
    if record.decided_at >= since:
        return Verdict.DECIDED_WITHIN_WINDOW
    if record.period_source != _CATALOGUE_PERIOD:
        return Verdict.IN_FORCE_BY_OWN_PERIOD
    return Verdict.DECIDED_BEFORE_WINDOW


def stops_counting(rules: EvaluationRules, record: AdverseRecord) -> date | None:
    """Return the first day a counting record no longer counts unless something changes; None: not known.

    A record decided within the window leaves it the day after the window's length, or when its display
    ends if sooner; one in force by its own period counts until that period ends (None: until the agency
    ends it). Repair ends it at once either way.
    """
    ends = record.display_until
    if record.period_source != _CATALOGUE_PERIOD:
        return ends
    leaves = add_duration(record.decided_at, rules.window) + timedelta(days=1)
    return leaves if ends is None else min(leaves, ends)


def _attribute(rules: EvaluationRules, today: date, value: bool) -> dict[str, Any]:
    return {
        "name": {"zh": rules.name.zh, "en": rules.name.en},
        "value": value,
        "window": {"length": rules.window.isoformat(), "from": rules.since(today).isoformat(),
                   "to": today.isoformat()},
        "rule": rules.reason,
        "legal_basis": rules.legal_basis,
    }


class PositiveRecord(Protocol):
    """A positive record as shown: its category and dates."""

    @property
    def category(self) -> str: ...
    @property
    def decided_at(self) -> date: ...
    @property
    def display_until(self) -> date | None: ...


def _positive(rules: EvaluationRules, catalogue: Catalogue, records: Sequence[PositiveRecord],
              ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Return the positive records by category (in the rules' order), each category with why its records count."""
    groups: dict[str, list[dict[str, Any]]] = {code: [] for code in rules.positive}
    for index, record in enumerate(records):
        if record.category not in groups:
            continue
        shown: dict[str, Any] = {"decided_at": record.decided_at.isoformat(),
                                 "display_until": None if record.display_until is None
                                 else record.display_until.isoformat(),
                                 "why": "shown today, in a category that counts"}
        if ids is not None:
            shown["record_id"] = ids[index]
        groups[record.category].append(shown)
    out = []
    for code, found in groups.items():
        if not found:
            continue
        category = catalogue.category(code)
        out.append({"category": code, "category_name": {"zh": category.name_zh, "en": category.name_en},
                    "count": len(found), "reason": rules.positive[code], "records": found})
    return out


def _head(rules: EvaluationRules, today: date) -> dict[str, Any]:
    return {"rules_version": rules.version, "as_of": today.isoformat(),
            "use": {"zh": rules.use.zh, "en": rules.use.en}}


def for_institution(rules: EvaluationRules, catalogue: Catalogue, now: datetime,
                    adverse: Sequence[AdverseRecord], positive: Sequence[PositiveRecord]) -> dict[str, Any]:
    """Return the evaluation for an incentive purpose's report: the attribute without the records behind it.

    ``positive`` are the records released in the report; ``adverse`` the person's negative records' dates
    (never contents). Which adverse record broke the attribute, and when, stays with the person.
    """
    today = now.astimezone(CST).date()
    since = rules.since(today)
    value = not any(_judge(r, today, since).counts for r in adverse if r.category in rules.adverse)
    return {**_head(rules, today), "no_adverse_record": _attribute(rules, today, value),
            "positive": _positive(rules, catalogue, positive)}


class OwnRecord(AdverseRecord, PositiveRecord, Protocol):
    """A record of the person's own file, as the evaluation reads it."""


def for_person(rules: EvaluationRules, catalogue: Catalogue, now: datetime,
               records: Sequence[OwnRecord]) -> dict[str, Any]:
    """Return the person's own evaluation: the attribute, every adverse record with whether and why it counts
    and until when, and the positive records shown today by category."""
    today = now.astimezone(CST).date()
    since = rules.since(today)  # once, not once a record
    judged = []
    true_from: date | None = today
    value = True
    for record in records:
        if record.category not in rules.adverse:
            continue
        verdict = _judge(record, today, since)
        counts = verdict.counts
        until = stops_counting(rules, record) if counts else None
        if counts:
            value = False
            true_from = None if until is None or true_from is None else max(true_from, until)
        explained = _EXPLAINED[verdict]
        judged.append({"record_id": record.id, "category": record.category,
                       "decided_at": record.decided_at.isoformat(), "counts": counts,
                       "why": verdict.value, "explanation": {"zh": explained.zh, "en": explained.en},
                       "counts_until": None if until is None else until.isoformat()})
    attribute = _attribute(rules, today, value)
    # When the attribute would hold if nothing changes (None: a record counts until its agency ends it).
    attribute["holds_from"] = today.isoformat() if value else (None if true_from is None else true_from.isoformat())
    shown = [r for r in records if r.status == "active" and r.repaired_at is None and r.display_from <= today
             and (r.display_until is None or r.display_until > today)]
    return {**_head(rules, today), "no_adverse_record": attribute, "adverse_records": judged,
            "positive": _positive(rules, catalogue, shown, [r.id for r in shown])}


# --- parsing ----------------------------------------------------------------------------------

_VERSION = re.compile(r"[0-9]{4}\.[0-9]{1,2}\.[0-9]{1,4}")
_NOTES = "internal_notes"
# No look-back longer than the five years negative information is kept (征信业管理条例).
_LONGEST_WINDOW = Duration(years=5)
_TOP_KEYS = ("version", "published", "basis", "use", "no_adverse_record", "positive")
_ATTRIBUTE_KEYS = ("name", "window", "legal_basis", "reason", "categories", "categories_reason")
_POSITIVE_KEYS = ("category", "reason")


class _Reader(DocumentReader):
    error = EvaluationInvalid

    def label(self, key: str) -> Label:
        inner = _Reader(self.value[key], f"{self.where}: {key}", ("zh", "en"))
        return Label(zh=inner.text("zh"), en=inner.text("en"))


def _adverse(r: _Reader, catalogue: Catalogue) -> frozenset[str]:
    negative = {code for code, c in catalogue.categories.items() if c.polarity is Polarity.NEGATIVE}
    listed = r.codes("categories", frozenset(catalogue.categories), allow_empty=False)
    for code in listed:
        if code not in negative:
            r.fail("categories", f"{code} is not a negative category: only adverse records can break the attribute")
    missing = sorted(negative - set(listed))
    if missing:
        r.fail("categories", f"{missing[0]} is a negative category of catalogue {catalogue.version} and must be "
                             "listed: every adverse record counts")
    return frozenset(listed)


def _positive_rules(top: _Reader, catalogue: Catalogue) -> Mapping[str, str]:
    rules: dict[str, str] = {}
    for index, item in enumerate(top.items("positive")):
        r = _Reader(item, f"positive[{index}]", _POSITIVE_KEYS)
        code = r.text("category")
        category = catalogue.categories.get(code)
        if category is None or category.polarity is not Polarity.POSITIVE:
            r.fail("category", f"{code} is not a positive category of catalogue {catalogue.version}")
        if code in rules:
            r.fail("category", f"{code} appears twice")
        rules[code] = r.text("reason")
    return MappingProxyType(rules)


def parse_evaluation(doc: Mapping[str, object], catalogue: Catalogue) -> EvaluationRules:
    """Return the evaluation rules in ``doc`` (decoded JSON), checked against ``catalogue``.

    Raises EvaluationInvalid, naming the key, for unknown or missing keys, a window that is not a positive
    duration of at most five years, a listed category that is not negative, a negative category left out,
    or a positive rule for a category that is not positive.
    """
    top = _Reader(doc, "evaluation", _TOP_KEYS, (_NOTES,))
    top.notes()
    attribute = _Reader(top.value["no_adverse_record"], "no_adverse_record", _ATTRIBUTE_KEYS)
    window = attribute.duration("window")
    if window == Duration() or not not_longer(window, _LONGEST_WINDOW):
        attribute.fail("window", "must be longer than zero and at most P5Y")
    return EvaluationRules(
        version=top.text("version", _VERSION), published=top.day("published"), basis=top.text("basis"),
        use=top.label("use"), name=attribute.label("name"), window=window,
        legal_basis=attribute.text("legal_basis"), reason=attribute.text("reason"),
        adverse=_adverse(attribute, catalogue), adverse_reason=attribute.text("categories_reason"),
        positive=_positive_rules(top, catalogue), raw=copy.deepcopy(dict(doc)),
    )


def evaluation_from_json(text: str, catalogue: Catalogue) -> EvaluationRules:
    """Return the evaluation rules in this JSON text; raise EvaluationInvalid if it is not valid."""
    return parse_evaluation(json_document(text, "evaluation", EvaluationInvalid), catalogue)


def load_default_rules(catalogue: Catalogue) -> EvaluationRules:
    """Return the rules shipped in ``consent/data/evaluation.json``, checked once per catalogue and cached."""
    return _load_default(catalogue)


@lru_cache(maxsize=8)
def _load_default(catalogue: Catalogue) -> EvaluationRules:
    text = (resources.files("consent") / "data" / "evaluation.json").read_text(encoding="utf-8")
    return evaluation_from_json(text, catalogue)
