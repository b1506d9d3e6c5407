"""A record's own display period (DP-1): rules by case, an end set by its document, changes by its agency.

A category's `display_period` is its default. Some categories state more, as data in the catalogue:

- `display_rules`: the period by the case a record describes, read from one of its enum fields. A rule
  may give another period, or none at all ("until the producing agency ends it": a court listing for
  refusing to perform lasts until the debtor performs), or name a date field of the payload until which
  the measure stays in force (an industry ban), so that the record is shown at least while it is.
- `document_display_until`: the bounds within which the document a record rests on may set the record's
  own end (`display_until` of the submission), counted from the decision.
- `display_extension`: how far the producing agency may later extend a record's end by a new document,
  counted from the end it was given on entry.

Only the agency that filed a record may extend it or end it early (谁产生、谁负责), each time with a
document; the change is a new version of the record, audited, and the old end stays in its history.
An end of None means "shown until the producing agency ends it".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from consent.durations import Duration, add_duration, not_longer
from consent.errors import PayloadInvalid
from consent.fields import FieldType
from vault.errors import RecordConflict

if TYPE_CHECKING:
    from consent.catalogue import Category, DocumentReader

__all__ = [
    "DisplayRule",
    "PeriodBounds",
    "PeriodChange",
    "PeriodEnd",
    "PeriodSource",
    "display_end",
    "plan_end",
    "plan_extension",
]


class PeriodSource(StrEnum):
    """Where a record's end comes from; anything but the catalogue's default is the record's own period."""

    CATALOGUE = "catalogue"
    RULE = "rule"
    DOCUMENT = "document"
    EXTENDED = "extended"
    ENDED = "ended"


@dataclass(frozen=True)
class DisplayRule:
    """The period of the records of a category whose `field` holds one of `values` (every record if None).

    `period` None: shown until the producing agency ends the record. `until_field`: a date field of the
    payload; when given, the record is shown at least through that day (the measure is in force), and
    when absent `period` applies.
    """

    field: str | None
    values: frozenset[str]
    period: Duration | None
    until_field: str | None
    reason: str

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Return whether this rule governs a record with this (normalised) payload."""
        return self.field is None or payload.get(self.field) in self.values

    def to_public(self) -> dict[str, object]:
        return {
            "field": self.field,
            "values": None if self.field is None else sorted(self.values),
            "period": None if self.period is None else self.period.isoformat(),
            "until_field": self.until_field,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PeriodBounds:
    """The shortest and longest of a period, with the reason."""

    min: Duration
    max: Duration
    reason: str

    def to_public(self) -> dict[str, object]:
        return {"min": self.min.isoformat(), "max": self.max.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class PeriodEnd:
    """A record's end (None: until its agency ends it) and where it comes from."""

    until: date | None
    source: PeriodSource


def display_end(category: Category, decided: date, payload: Mapping[str, Any], own: date | None) -> PeriodEnd:
    """Return the end of a record's display: its document's own end, else its rule's, else the category's.

    Raises PayloadInvalid (field `display_until`) for an own end the category does not allow.
    """
    if own is not None:
        bounds = category.document_display_until
        if bounds is None:
            raise PayloadInvalid("display_until", f"a {category.code} record takes its period from the catalogue; "
                                                  "its document cannot set its own end")
        earliest, latest = add_duration(decided, bounds.min), add_duration(decided, bounds.max)
        if not earliest <= own <= latest:
            raise PayloadInvalid("display_until", f"must lie from {earliest.isoformat()} to {latest.isoformat()} "
                                                  f"({bounds.min} to {bounds.max} after the decision)")
        return PeriodEnd(own, PeriodSource.DOCUMENT)
    default = category.display_until(decided)
    for rule in category.display_rules:
        if not rule.matches(payload):
            continue
        in_force = payload.get(rule.until_field) if rule.until_field else None
        if isinstance(in_force, str):
            # Shown through the last day of the measure: the first day it is no longer shown is the next.
            last = date.fromisoformat(in_force) + timedelta(days=1)
            return PeriodEnd(last, PeriodSource.RULE) if last > default else PeriodEnd(default, PeriodSource.CATALOGUE)
        if rule.period is None:
            return PeriodEnd(None, PeriodSource.RULE)
        until = add_duration(decided, rule.period)
        return PeriodEnd(until, PeriodSource.CATALOGUE if until == default else PeriodSource.RULE)
    return PeriodEnd(default, PeriodSource.CATALOGUE)


@dataclass(frozen=True)
class PeriodChange:
    """A checked change of a record's end, ready for the vault."""

    kind: PeriodSource
    until: date


def _shown_now(until: date | None, today: date) -> None:
    if until is not None and until <= today:
        raise RecordConflict(f"the record's display ended on {until.isoformat()}; a new decision is a new record")


def plan_extension(category: Category, current: date | None, entry_until: date | None, new: date,
                   today: date) -> PeriodChange:
    """Return the extension of a record shown until `current` (set to `entry_until` on entry) to `new`.

    Raises RecordConflict when the record is no longer shown or has no end to extend, PayloadInvalid
    (field `display_until`) when the category allows no extension or `new` lies outside its bounds.
    """
    bounds = category.display_extension
    if bounds is None:
        raise PayloadInvalid("display_until", f"the display of a {category.code} record cannot be extended")
    if current is None or entry_until is None:
        raise RecordConflict("the record is shown until its agency ends it: there is no end to extend")
    _shown_now(current, today)
    earliest, latest = add_duration(entry_until, bounds.min), add_duration(entry_until, bounds.max)
    if not max(earliest, current + timedelta(days=1)) <= new <= latest:
        raise PayloadInvalid("display_until", f"an extension ends from {earliest.isoformat()} to {latest.isoformat()} "
                                              f"({bounds.min} to {bounds.max} after the end set on entry, "
                                              f"{entry_until.isoformat()}), and after the current end, "
                                              f"{current.isoformat()}")
    return PeriodChange(PeriodSource.EXTENDED, new)


def plan_end(current: date | None, today: date) -> PeriodChange:
    """Return the early end of a record shown until `current`: it is no longer shown from today (CST).

    Raises RecordConflict when the record is no longer shown anyway.
    """
    _shown_now(current, today)
    return PeriodChange(PeriodSource.ENDED, today)


# --- parsing (the catalogue's reader calls these) ----------------------------------------------


def parse_rules(r: DocumentReader, key: str, fields: Mapping[str, Any]) -> tuple[DisplayRule, ...]:
    """Return the display rules under `key`; `fields` maps the category's field names to their FieldSpec."""
    from consent.catalogue import DocumentReader

    rules = []
    for index, item in enumerate(r.items(key)):
        rule = DocumentReader(item, f"{r.where}: {key}[{index}]", ("field", "values", "period", "reason"),
                              ("until_field", "internal_notes"))
        raw_field = rule.value["field"]
        field = None if raw_field is None else str(raw_field)
        values: frozenset[str] = frozenset()
        if raw_field is not None:
            spec = fields.get(raw_field) if isinstance(raw_field, str) else None
            if spec is None or spec.enum is None:
                rule.fail("field", f"{field!r} is not an enum field of the category")
            listed = rule.items("values")
            if not all(isinstance(v, str) and v in spec.enum for v in listed):
                rule.fail("values", f"must be values of {field}: {', '.join(spec.enum)}")
            values = frozenset(str(v) for v in listed)
        elif rule.value["values"] is not None:
            rule.fail("values", "must be null when the rule applies to every record (field null)")
        period = None if rule.value["period"] is None else rule.duration("period")
        if period == Duration():
            rule.fail("period", "must be longer than zero, or null for 'until the agency ends it'")
        until_field = rule.text("until_field") if rule.value.get("until_field") is not None else None
        if until_field is not None and getattr(fields.get(until_field), "type", None) is not FieldType.DATE:
            rule.fail("until_field", f"{until_field!r} is not a date field of the category")
        rule.notes()
        rules.append(DisplayRule(field, values, period, until_field, rule.text("reason")))
    return tuple(rules)


def parse_bounds(r: DocumentReader, key: str) -> PeriodBounds:
    """Return the bounds under `key`: min and max durations (min not longer than max) and a reason."""
    from consent.catalogue import DocumentReader

    b = DocumentReader(r.value[key], f"{r.where}: {key}", ("min", "max", "reason"), ("internal_notes",))
    low, high = b.duration("min"), b.duration("max")
    if high == Duration() or not not_longer(low, high):
        b.fail("max", f"{high} must be longer than zero and not shorter than min ({low})")
    b.notes()
    return PeriodBounds(low, high, b.text("reason"))
