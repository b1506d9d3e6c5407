"""The public credit information catalogue (目录制管理) and the rules each category carries.

Every record the vault stores belongs to one category of the catalogue; nothing outside it may be
recorded, shared or disclosed (CAT-3, CAT-6). A category names its legal basis (CAT-1), who may
submit it, whether and how widely it may be shared (CAT-4), how long it is displayed (DP-1) and
whether and when it can be repaired (REP-1, REP-2).

Who may file what (谁主管、谁认定、谁负责, DET-4): a provider is registered with an agency role, a code
of ``provider_roles``. A category names the roles that may file it; ``any_competent_authority`` there
stands for every role the catalogue marks ``administrative`` (a court or a credit office is not one).
A category may also name the lowest administrative level (``agency_levels``, listed lowest first) of
an agency that may file it: serious-dishonesty lists need county level or above (LIST-6, 002:22).

The shipped catalogue is ``consent/data/catalogue.json``. The seeds give no concrete periods (DP-6),
so every period lives in that file: changing one is a new catalogue version, never a code change.
This module only checks that a catalogue keeps its own rules; calendar arithmetic is in
`consent.durations` and payload fields are in `consent.fields`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from itertools import pairwise
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from consent.durations import (
    REFERENCE_DATES,
    Duration,
    add_duration,
    not_longer,
    parse_duration,
    subtract_duration,
)
from consent.errors import CatalogueInvalid, UnknownCategory
from consent.fields import DateLimit, FieldFormat, FieldSpec, FieldType, normalise_payload
from consent.periods import DisplayRule, PeriodBounds, parse_bounds, parse_rules
from consent.timeliness import PublicationDeadline, parse_deadline

__all__ = [
    "ANY_COMPETENT_AUTHORITY",
    "LEGACY_AGENCY",
    "SERIOUS_DISHONESTY_FIELDS",
    "Catalogue",
    "Category",
    "CodeEntry",
    "DateRules",
    "DocumentOrder",
    "DocumentReader",
    "DocumentType",
    "Grade",
    "Label",
    "MinimumAge",
    "NoticeRule",
    "Polarity",
    "ProviderRole",
    "Severity",
    "ShareScope",
    "catalogue_from_json",
    "load_default",
    "parse_catalogue",
]

# SD-1: the serious-dishonesty list is limited to these four fields and "no unit may add or
# extend" them (002:20, 004:18), so they are code, not catalogue data.
SERIOUS_DISHONESTY_FIELDS: frozenset[str] = frozenset(
    {
        "public_health_safety",
        "fair_competition_social_order",
        "judicial_administrative_obligations",
        "national_defence_obligations",
    }
)
_LISTING_FIELD = "field_of_listing"

# A category filed by "any authority competent for the matter" may be filed by every administrative role.
ANY_COMPETENT_AUTHORITY = "any_competent_authority"
# The agency of a provider registered before agencies had roles, whose role could not be told from what it
# filed (migration 0008): it keeps filing its registered categories, unchecked by role and level, until an
# operator gives it a role. Never a code of the catalogue, never given at registration.
LEGACY_AGENCY = "legacy"


# --- the catalogue's vocabulary ---------------------------------------------------------------


class Polarity(StrEnum):
    """Whether a category records basic facts, good conduct or dishonesty."""

    BASIC = "basic"
    POSITIVE = "positive"
    NEGATIVE = "negative"


class Severity(StrEnum):
    """Grade of a negative category (DET-5); null for basic and positive ones."""

    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"
    ESPECIALLY_SERIOUS = "especially_serious"


class ShareScope(StrEnum):
    """How widely a category may be shared (CAT-4): the person only, by authorisation, or public."""

    SELF_ONLY = "self_only"
    AUTHORISED_QUERY = "authorised_query"
    PUBLIC = "public"


@dataclass(frozen=True)
class Label:
    """A name in Chinese and English."""

    zh: str
    en: str


@dataclass(frozen=True)
class CodeEntry:
    """One entry of a code list (occupational groups, document types, domains, provider roles)."""

    code: str
    zh: str
    en: str

    def to_public(self) -> dict[str, object]:
        """Return the entry as JSON data."""
        return {"code": self.code, "zh": self.zh, "en": self.en}


class DocumentOrder(StrEnum):
    """Which comes first for a document type: the record's decision or the document's effect."""

    DECIDED_THEN_EFFECTIVE = "decided_then_effective"
    EFFECTIVE_THEN_DECIDED = "effective_then_decided"


@dataclass(frozen=True)
class DocumentType(CodeEntry):
    """A document type a record may rest on, and the order of its dates (``effective_at`` vs ``decided_at``)."""

    order: DocumentOrder = DocumentOrder.DECIDED_THEN_EFFECTIVE

    def to_public(self) -> dict[str, object]:
        """Return the entry as JSON data."""
        return {**super().to_public(), "order": self.order.value}


@dataclass(frozen=True)
class Grade:
    """One grade of the four-level grading of dishonesty (DET-5): its response and display period bounds."""

    severity: Severity
    name: Label
    response: Label
    display_period_min: Duration
    display_period_max: Duration
    reason: str

    def to_public(self) -> dict[str, object]:
        """Return the grade as JSON data, durations as ISO 8601 strings."""
        return {
            "code": self.severity.value,
            "zh": self.name.zh,
            "en": self.name.en,
            "response": {"zh": self.response.zh, "en": self.response.en},
            "display_period_min": self.display_period_min.isoformat(),
            "display_period_max": self.display_period_max.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DateRules:
    """The dates a record may carry, with reasons: none before ``earliest``, a past fact not after its limit
    (a field's ``not_after``), and each document type's order."""

    earliest: date
    earliest_reason: str
    not_after_reason: str
    order_reasons: Mapping[DocumentOrder, str] = field(hash=False)

    def to_public(self) -> dict[str, object]:
        """Return the rules as JSON data."""
        return {
            "earliest": self.earliest.isoformat(),
            "earliest_reason": self.earliest_reason,
            "not_after_reason": self.not_after_reason,
            "document_order": {order.value: reason for order, reason in self.order_reasons.items()},
        }


@dataclass(frozen=True)
class MinimumAge:
    """The age a person must have reached on the decision date for a record of the category (DATA-8)."""

    years: int
    reason: str

    def reached_on(self, born: date) -> date:
        """Return the first day on which someone born on ``born`` counts as ``years`` old.

        Age in full years counts from the day after the birthday (周岁从生日的第二天起算), so a finding on
        the birthday itself still concerns a minor; a birthday on 29 February falls on 28 February.
        """
        return add_duration(born, Duration(years=self.years, days=1))

    def to_public(self) -> dict[str, object]:
        """Return the rule as JSON data."""
        return {"years": self.years, "reason": self.reason}


@dataclass(frozen=True)
class NoticeRule:
    """The person is told before the decision (LIST-4): the date field and the working days it must precede by."""

    field: str
    working_days: int
    reason: str

    def to_public(self) -> dict[str, object]:
        """Return the rule as JSON data."""
        return {"field": self.field, "working_days": self.working_days, "reason": self.reason}


@dataclass(frozen=True)
class ProviderRole:
    """An agency role: whether it is an administrative authority, and why when that is not plain."""

    code: str
    zh: str
    en: str
    administrative: bool
    reason: str | None = None

    def to_public(self) -> dict[str, object]:
        """Return the role as JSON data."""
        data: dict[str, object] = {"code": self.code, "zh": self.zh, "en": self.en,
                                   "administrative": self.administrative}
        if self.reason is not None:
            data["reason"] = self.reason
        return data


# --- categories and the catalogue -------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """One catalogue category: what may be recorded, by whom, shared how widely, shown how long."""

    code: str
    name: Label
    domain: str
    polarity: Polarity
    severity: Severity | None
    legal_basis: str
    share_scope: ShareScope
    share_scope_reason: str
    display_period: Duration
    display_period_reason: str
    retention_period: Duration
    retention_period_reason: str
    min_period_before_repair: Duration | None
    repairable: bool
    provider_roles: tuple[str, ...]
    document_required: bool
    document_types: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    minimum_age: MinimumAge | None = None
    notice: NoticeRule | None = None
    # Optional: the period by case, an end the document may set, extensions, publication deadline.
    display_rules: tuple[DisplayRule, ...] = ()
    document_display_until: PeriodBounds | None = None
    display_extension: PeriodBounds | None = None
    publication_deadline: PublicationDeadline | None = None
    min_provider_level: str | None = None
    min_provider_level_reason: str | None = None

    @property
    def name_zh(self) -> str:
        """Return the Chinese name."""
        return self.name.zh

    @property
    def name_en(self) -> str:
        """Return the English name."""
        return self.name.en

    @property
    def third_party_fields(self) -> frozenset[str]:
        """Return the names of the fields a consenting third party may ever receive."""
        return frozenset(spec.name for spec in self.fields if spec.third_party)

    def display_until(self, decided: date) -> date:
        """Return the first day a record decided on ``decided`` is no longer displayed.

        The display window is half-open: shown on days ``decided <= day < display_until``.
        """
        return add_duration(decided, self.display_period)

    def retention_bound(self, today: date) -> date:
        """Return the last display end whose record is past retention on ``today`` (the second clock).

        A record whose display ended on or before this day is erased; counting back from today (clamped to
        the month's end) never erases one a day early.
        """
        return subtract_duration(today, self.retention_period)

    def earliest_repair(self, decided: date) -> date | None:
        """Return the first day repair may be applied for, or None if not repairable here."""
        if not self.repairable or self.min_period_before_repair is None:
            return None
        return add_duration(decided, self.min_period_before_repair)

    def validate_payload(self, payload: object) -> dict[str, object]:
        """Return the payload normalised, in field order; raise PayloadInvalid on the first fault.

        Unknown fields are refused, so nothing outside the catalogue is recorded (CAT-6).
        A null value counts as absent.
        """
        return normalise_payload(self.fields, payload, self.field_names)

    @cached_property
    def field_names(self) -> frozenset[str]:
        """Return the names of the payload's fields (kept: every record entering is checked against them)."""
        return frozenset(spec.name for spec in self.fields)

    @cached_property
    def date_fields(self) -> tuple[FieldSpec, ...]:
        """Return the payload's date fields, in field order."""
        return tuple(spec for spec in self.fields if spec.type is FieldType.DATE)

    def to_public(self) -> dict[str, object]:
        """Return the category as JSON data, durations as ISO 8601 strings."""
        repair = self.min_period_before_repair
        return {
            "code": self.code,
            "name": {"zh": self.name.zh, "en": self.name.en},
            "domain": self.domain,
            "polarity": self.polarity.value,
            "severity": None if self.severity is None else self.severity.value,
            "legal_basis": self.legal_basis,
            "share_scope": self.share_scope.value,
            "share_scope_reason": self.share_scope_reason,
            "display_period": self.display_period.isoformat(),
            "display_period_reason": self.display_period_reason,
            "retention_period": self.retention_period.isoformat(),
            "retention_period_reason": self.retention_period_reason,
            "min_period_before_repair": None if repair is None else repair.isoformat(),
            "repairable": self.repairable,
            "provider_roles": list(self.provider_roles),
            "document_required": self.document_required,
            "document_types": list(self.document_types),
            "fields": [spec.to_public() for spec in self.fields],
            "minimum_age": None if self.minimum_age is None else self.minimum_age.to_public(),
            "notice_before_decision": None if self.notice is None else self.notice.to_public(),
            **({} if self.min_provider_level is None else {
                "min_provider_level": self.min_provider_level,
                "min_provider_level_reason": self.min_provider_level_reason}),
            **self._periods_public(),
        }

    def _periods_public(self) -> dict[str, object]:
        def public(rule: PeriodBounds | PublicationDeadline | None) -> dict[str, object] | None:
            return None if rule is None else rule.to_public()

        return {
            "display_rules": [rule.to_public() for rule in self.display_rules],
            "document_display_until": public(self.document_display_until),
            "display_extension": public(self.display_extension),
            "publication_deadline": public(self.publication_deadline),
        }


@dataclass(frozen=True)
class Catalogue:
    """A parsed, validated catalogue version; ``raw`` is a private copy of the source document."""

    version: str
    published: date
    categories: Mapping[str, Category] = field(hash=False)
    occupational_groups: tuple[CodeEntry, ...]
    document_types: tuple[DocumentType, ...]
    raw: dict[str, object] = field(repr=False, compare=False, hash=False)
    basis: str
    domains: tuple[CodeEntry, ...]
    provider_roles: tuple[ProviderRole, ...]
    dates: DateRules
    grades: tuple[Grade, ...]
    agency_levels: tuple[CodeEntry, ...] = ()

    @property
    def role_codes(self) -> tuple[str, ...]:
        """Return the codes of the agency roles, in catalogue order."""
        return tuple(role.code for role in self.provider_roles)

    @property
    def level_codes(self) -> tuple[str, ...]:
        """Return the codes of the administrative levels, lowest first."""
        return tuple(level.code for level in self.agency_levels)

    def role(self, code: str) -> ProviderRole | None:
        """Return the agency role with this code, or None."""
        return next((role for role in self.provider_roles if role.code == code), None)

    def filing_refusal(self, code: str, agency: str, level: str | None) -> str | None:
        """Return why an agency of this role and level may not file category ``code``, or None if it may.

        A legacy agency (LEGACY_AGENCY) is not checked here: it files what it was registered for.
        Raises UnknownCategory.
        """
        category = self.category(code)
        if agency == LEGACY_AGENCY:
            return None
        role = self.role(agency)
        if role is None:
            return f"{agency!r} is not an agency role of the catalogue"
        named = agency in category.provider_roles
        if not named and not (role.administrative and ANY_COMPETENT_AUTHORITY in category.provider_roles):
            return (f"an agency with role {agency} ({role.zh}) may not file {code}: it is filed by "
                    f"{', '.join(category.provider_roles)}" + (f" ({role.reason.rstrip('.')})" if role.reason else ""))
        minimum = category.min_provider_level
        if minimum is not None and not self.level_at_least(level, minimum):
            where = "an agency of unknown level" if level is None else f"a {level}-level agency"
            return (f"{where} may not file {code}: it needs level {minimum} or above "
                    f"({(category.min_provider_level_reason or '').rstrip('.')})")
        return None

    def level_at_least(self, level: str | None, minimum: str) -> bool:
        """Return whether ``level`` is a known level at ``minimum`` or above."""
        levels = self.level_codes
        return level in levels and levels.index(level) >= levels.index(minimum)

    def roles_for(self, codes: Sequence[str]) -> tuple[str, ...]:
        """Return the roles that may file every category in ``codes`` (whatever their level)."""
        known = all(code in self.categories for code in codes)
        return tuple(role for role in self.role_codes if known and all(
            self.filing_refusal(code, role, self.level_codes[-1] if self.level_codes else None) is None
            for code in codes))

    def derive_agency(self, codes: Sequence[str]) -> str:
        """Return the role of an agency registered for ``codes`` before roles existed, or LEGACY_AGENCY.

        The generic ``any_competent_authority`` if it covers them all, else the one role that does. With
        none, or several (which agency is it?), or a category that needs a level nobody recorded, the
        agency stays legacy: it keeps filing what it files today, and the CLI says so.
        """
        if any(code in self.categories and self.categories[code].min_provider_level for code in codes):
            return LEGACY_AGENCY
        roles = self.roles_for(codes)
        if ANY_COMPETENT_AUTHORITY in roles:
            return ANY_COMPETENT_AUTHORITY
        return roles[0] if len(roles) == 1 else LEGACY_AGENCY

    @property
    def document_type_codes(self) -> frozenset[str]:
        """Return the codes of the document types a record may rest on."""
        return frozenset(entry.code for entry in self.document_types)

    def document_type(self, code: str) -> DocumentType | None:
        """Return the document type with this code, or None if the catalogue has none."""
        return next((entry for entry in self.document_types if entry.code == code), None)

    def grade(self, severity: Severity) -> Grade:
        """Return the grade of this severity (every severity has one: the parser checks it)."""
        return next(grade for grade in self.grades if grade.severity is severity)

    def category(self, code: str) -> Category:
        """Return the category with this code; raise UnknownCategory if there is none."""
        try:
            return self.categories[code]
        except KeyError:
            raise UnknownCategory(code) from None

    def to_public(self) -> dict[str, object]:
        """Return the whole catalogue as JSON data, as served at ``GET /api/v1/catalogue``."""
        return {
            "version": self.version,
            "published": self.published.isoformat(),
            "basis": self.basis,
            "dates": self.dates.to_public(),
            "severities": [grade.to_public() for grade in self.grades],
            "domains": [entry.to_public() for entry in self.domains],
            "provider_roles": [entry.to_public() for entry in self.provider_roles],
            "agency_levels": [entry.to_public() for entry in self.agency_levels],
            "occupational_groups": [
                entry.to_public() for entry in self.occupational_groups
            ],
            "document_types": [entry.to_public() for entry in self.document_types],
            "categories": [
                category.to_public() for category in self.categories.values()
            ],
        }


# --- parsing ----------------------------------------------------------------------------------

_VERSION = re.compile(r"[0-9]{4}\.[0-9]{1,2}\.[0-9]{1,4}")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_GROUP_CODE = re.compile(r"KG[0-9]{2}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_TOP_KEYS = (
    "version",
    "published",
    "basis",
    "dates",
    "severities",
    "domains",
    "provider_roles",
    "agency_levels",
    "occupational_groups",
    "document_types",
    "categories",
)
_CODE_LISTS = ("domains", "agency_levels", "occupational_groups", "document_types")
# Internal cross-references (policy item ids, seed lines, what is still to verify): kept with the data,
# never published (GET /api/v1/catalogue shows laws and documents by name only).
_NOTES = "internal_notes"
_CATEGORY_OPTIONAL_KEYS = ("minimum_age", "notice_before_decision", "min_provider_level",
                           "min_provider_level_reason", _NOTES)
_CATEGORY_KEYS = (
    "code",
    "name",
    "domain",
    "polarity",
    "severity",
    "legal_basis",
    "share_scope",
    "share_scope_reason",
    "display_period",
    "display_period_reason",
    "retention_period",
    "retention_period_reason",
    "min_period_before_repair",
    "repairable",
    "provider_roles",
    "document_required",
    "document_types",
    "fields",
)
# Optional keys of a category (consent.periods, consent.timeliness).
_CATEGORY_PERIOD_KEYS = ("display_rules", "document_display_until", "display_extension", "publication_deadline")
_ROLE_KEYS = ("code", "zh", "en", "administrative")
_FIELD_KEYS = ("name", "type", "required", "third_party", "zh", "en")
_FIELD_OPTIONAL_KEYS = ("max_length", "enum", "code_list", "format", "not_after")
_GRADE_KEYS = ("code", "zh", "en", "response", "display_period_min", "display_period_max", "reason")
_LONGEST_AGE = 150
# A bound on the second clock, so that a typo (P50Y) cannot keep records for a lifetime.
LONGEST_RETENTION = Duration(years=30)
_LONGEST_NOTICE = 365

_E = TypeVar("_E", bound=StrEnum)


class DocumentReader:
    """One JSON object of a data file; every error names ``where`` and the key, as `error`.

    The catalogue's reader; the purposes file reads its objects with a subclass.
    """

    error: type[Exception] = CatalogueInvalid

    def __init__(
        self,
        value: object,
        where: str,
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> None:
        if not isinstance(value, Mapping):
            raise self.error(f"{where}: must be an object")
        unknown = sorted(
            str(key) for key in value if key not in required and key not in optional
        )
        if unknown:
            raise self.error(f"{where}: {unknown[0]}: unknown key")
        missing = [key for key in required if key not in value]
        if missing:
            raise self.error(f"{where}: {missing[0]}: missing key")
        self.value: Mapping[str, object] = value
        self.where = where

    def fail(self, key: str, problem: str) -> NoReturn:
        raise self.error(f"{self.where}: {key}: {problem}")

    def text(self, key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.value[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "must be a non-empty string")
        if pattern is not None and pattern.fullmatch(value) is None:
            self.fail(key, f"{value!r} does not match {pattern.pattern}")
        return value

    def flag(self, key: str) -> bool:
        value = self.value[key]
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return value

    def items(self, key: str) -> list[object]:
        value = self.value[key]
        if not isinstance(value, list) or not value:
            self.fail(key, "must be a non-empty list")
        return value

    def day(self, key: str) -> date:
        value = self.text(key, _ISO_DATE)
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(key, f"{value!r} is not a calendar date")

    def duration(self, key: str) -> Duration:
        value = self.value[key]
        if not isinstance(value, str):
            self.fail(key, "must be an ISO 8601 duration string such as P1Y")
        try:
            duration = parse_duration(value)
            add_duration(REFERENCE_DATES[-1], duration)
        except ValueError as exc:
            self.fail(key, str(exc))
        except OverflowError:
            self.fail(key, f"{value} is too long to count from today")
        return duration

    def integer(self, key: str, lowest: int, highest: int) -> int:
        value = self.value[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            self.fail(key, f"must be a whole number from {lowest} to {highest}")
        return value

    def notes(self) -> None:
        """Check the optional internal notes: text for maintainers, never published."""
        if _NOTES in self.value:
            self.text(_NOTES)

    def optional_duration(self, key: str) -> Duration | None:
        return None if self.value[key] is None else self.duration(key)

    def choice(self, key: str, kind: type[_E]) -> _E:
        value = self.value[key]
        allowed = [member.value for member in kind]
        if not isinstance(value, str) or value not in allowed:
            self.fail(key, f"must be one of: {', '.join(allowed)}")
        return kind(value)

    def optional_choice(self, key: str, kind: type[_E]) -> _E | None:
        return None if self.value[key] is None else self.choice(key, kind)

    def codes(
        self, key: str, known: frozenset[str], *, allow_empty: bool
    ) -> tuple[str, ...]:
        value = self.value[key]
        if not isinstance(value, list) or (not value and not allow_empty):
            self.fail(
                key, "must be a list" if allow_empty else "must be a non-empty list"
            )
        for item in value:
            if not isinstance(item, str) or item not in known:
                self.fail(key, f"{item!r} is not a known code")
        if len(set(value)) != len(value):
            self.fail(key, "lists a code twice")
        return tuple(value)


@dataclass(frozen=True)
class _Context:
    domains: frozenset[str]
    provider_roles: frozenset[str]
    agency_levels: frozenset[str]
    document_types: frozenset[str]
    code_lists: Mapping[str, frozenset[str]]
    grades: Mapping[Severity, Grade]


def _dates(top: DocumentReader) -> DateRules:
    r = DocumentReader(top.value["dates"], "catalogue: dates",
                       ("earliest", "earliest_reason", "not_after_reason", "document_order"), (_NOTES,))
    r.notes()
    orders = DocumentReader(r.value["document_order"], "catalogue: dates: document_order",
                            [order.value for order in DocumentOrder])
    return DateRules(
        earliest=r.day("earliest"),
        earliest_reason=r.text("earliest_reason"),
        not_after_reason=r.text("not_after_reason"),
        order_reasons=MappingProxyType({order: orders.text(order.value) for order in DocumentOrder}),
    )


def _grades(top: DocumentReader) -> tuple[Grade, ...]:
    grades: list[Grade] = []
    for index, item in enumerate(top.items("severities")):
        where = _named(item, "code", "catalogue: severities: {}", f"catalogue: severities[{index}]")
        r = DocumentReader(item, where, _GRADE_KEYS, (_NOTES,))
        r.notes()
        response = DocumentReader(r.value["response"], f"{where}: response", ("zh", "en"))
        grade = Grade(
            severity=r.choice("code", Severity),
            name=Label(zh=r.text("zh"), en=r.text("en")),
            response=Label(zh=response.text("zh"), en=response.text("en")),
            display_period_min=r.duration("display_period_min"),
            display_period_max=r.duration("display_period_max"),
            reason=r.text("reason"),
        )
        if not not_longer(grade.display_period_min, grade.display_period_max):
            r.fail("display_period_max", "is shorter than display_period_min")
        grades.append(grade)
    # The four grades (DET-5) each once, from the lightest to the heaviest, and a heavier one never shown
    # for less time than a lighter one may be.
    if [grade.severity for grade in grades] != list(Severity):
        top.fail("severities", f"must list each grade once, in order: {', '.join(Severity)}")
    for lighter, heavier in pairwise(grades):
        if not not_longer(lighter.display_period_min, heavier.display_period_min):
            top.fail("severities", f"{heavier.severity} has a shorter display_period_min than {lighter.severity}")
    return tuple(grades)


def _code_entries(top: DocumentReader, key: str) -> tuple[CodeEntry, ...]:
    pattern = _GROUP_CODE if key == "occupational_groups" else _SNAKE
    entries: list[CodeEntry] = []
    for index, item in enumerate(top.items(key)):
        if key == "document_types":
            entry = DocumentReader(item, f"catalogue: {key}[{index}]", ("code", "zh", "en", "order"))
            entries.append(DocumentType(entry.text("code", pattern), entry.text("zh"), entry.text("en"),
                                        entry.choice("order", DocumentOrder)))
            continue
        entry = DocumentReader(item, f"catalogue: {key}[{index}]", ("code", "zh", "en"))
        entries.append(
            CodeEntry(entry.text("code", pattern), entry.text("zh"), entry.text("en"))
        )
    codes = [entry.code for entry in entries]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        top.fail(key, f"code {duplicates[0]!r} appears twice")
    return tuple(entries)


def _provider_roles(top: DocumentReader) -> tuple[ProviderRole, ...]:
    roles: list[ProviderRole] = []
    for index, item in enumerate(top.items("provider_roles")):
        r = DocumentReader(item, f"catalogue: provider_roles[{index}]", _ROLE_KEYS, ("reason",))
        code = r.text("code", _SNAKE)
        if code == LEGACY_AGENCY:
            r.fail("code", f"{LEGACY_AGENCY!r} marks agencies registered before roles; it is not a role")
        administrative = r.flag("administrative")
        if code == ANY_COMPETENT_AUTHORITY and not administrative:
            r.fail("administrative", "any competent authority is an administrative one")
        reason = r.text("reason") if "reason" in r.value else None
        roles.append(ProviderRole(code, r.text("zh"), r.text("en"), administrative, reason))
    codes = [role.code for role in roles]
    if ANY_COMPETENT_AUTHORITY not in codes:
        top.fail("provider_roles", f"must include {ANY_COMPETENT_AUTHORITY!r}")
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        top.fail("provider_roles", f"code {duplicates[0]!r} appears twice")
    return tuple(roles)


def _parse_field(value: object, owner: str, index: int, context: _Context) -> FieldSpec:
    where = _named(value, "name", f"{owner}: field {{}}", f"{owner}: fields[{index}]")
    r = DocumentReader(value, where, _FIELD_KEYS, _FIELD_OPTIONAL_KEYS)
    name = r.text("name", _SNAKE)
    kind = r.choice("type", FieldType)
    max_length = _max_length(r) if "max_length" in r.value else None
    if max_length is not None and kind is not FieldType.STRING:
        r.fail("max_length", "only a string field has a max_length")
    enum = _enum_values(r) if "enum" in r.value else None
    if (enum is None) == (kind is FieldType.ENUM):
        r.fail(
            "enum",
            "an enum field needs a list of values, and only an enum field has one",
        )
    code_list = r.text("code_list") if "code_list" in r.value else None
    if (code_list is None) == (kind is FieldType.CODE):
        r.fail(
            "code_list", "a code field needs a code_list, and only a code field has one"
        )
    if code_list is not None and code_list not in context.code_lists:
        r.fail("code_list", f"{code_list!r} is not one of: {', '.join(context.code_lists)}")
    text_format = r.choice("format", FieldFormat) if "format" in r.value else None
    if text_format is not None and kind is not FieldType.STRING:
        r.fail("format", "only a string field has a format")
    not_after = r.choice("not_after", DateLimit) if "not_after" in r.value else None
    if not_after is not None and kind is not FieldType.DATE:
        r.fail("not_after", "only a date field has a not_after")
    if name == _LISTING_FIELD and not (enum and set(enum) <= SERIOUS_DISHONESTY_FIELDS):
        # SD-1: no catalogue may widen the serious-dishonesty list beyond its four fields.
        r.fail(
            "enum",
            f"may only hold the four statutory fields: {sorted(SERIOUS_DISHONESTY_FIELDS)}",
        )
    return FieldSpec(
        name=name,
        type=kind,
        required=r.flag("required"),
        third_party=r.flag("third_party"),
        zh=r.text("zh"),
        en=r.text("en"),
        max_length=max_length,
        enum=enum,
        code_list=code_list,
        codes=context.code_lists.get(code_list or "", frozenset()),
        format=text_format,
        not_after=not_after,
    )


def _max_length(r: DocumentReader) -> int:
    value = r.value["max_length"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        r.fail("max_length", "must be a positive integer")
    return value


def _enum_values(r: DocumentReader) -> tuple[str, ...]:
    values = r.items("enum")
    if not all(isinstance(value, str) and _SNAKE.fullmatch(value) for value in values):
        r.fail("enum", "values must be snake_case strings")
    if len(set(values)) != len(values):
        r.fail("enum", "lists a value twice")
    return tuple(str(value) for value in values)


def _named(value: object, key: str, named: str, unnamed: str) -> str:
    """Return where an object sits, by its name if it has a plausible one, else by position."""
    name = value.get(key) if isinstance(value, Mapping) else None
    return named.format(name) if isinstance(name, str) and name.strip() else unnamed


def _parse_category(value: object, index: int, context: _Context) -> Category:
    where = _named(value, "code", "category {}", f"categories[{index}]")
    r = DocumentReader(value, where, _CATEGORY_KEYS, (*_CATEGORY_OPTIONAL_KEYS, *_CATEGORY_PERIOD_KEYS))
    r.notes()
    code = r.text("code", _UPPER_SNAKE)
    name = DocumentReader(r.value["name"], f"category {code}: name", ("zh", "en"))
    domain = r.text("domain")
    if domain not in context.domains:
        r.fail("domain", f"{domain!r} is not a known domain")
    fields = tuple(
        _parse_field(item, r.where, number, context)
        for number, item in enumerate(r.items("fields"))
    )
    names = [spec.name for spec in fields]
    if len(set(names)) != len(names):
        r.fail("fields", "two fields share a name")
    category = Category(
        code=code,
        name=Label(zh=name.text("zh"), en=name.text("en")),
        domain=domain,
        polarity=r.choice("polarity", Polarity),
        severity=r.optional_choice("severity", Severity),
        legal_basis=r.text("legal_basis"),
        share_scope=r.choice("share_scope", ShareScope),
        share_scope_reason=r.text("share_scope_reason"),
        display_period=r.duration("display_period"),
        display_period_reason=r.text("display_period_reason"),
        retention_period=r.duration("retention_period"),
        retention_period_reason=r.text("retention_period_reason"),
        min_period_before_repair=r.optional_duration("min_period_before_repair"),
        repairable=r.flag("repairable"),
        provider_roles=r.codes(
            "provider_roles", context.provider_roles, allow_empty=False
        ),
        document_required=r.flag("document_required"),
        document_types=r.codes(
            "document_types", context.document_types, allow_empty=True
        ),
        fields=fields,
        minimum_age=None if r.value.get("minimum_age") is None else _minimum_age(r),
        notice=None if r.value.get("notice_before_decision") is None else _notice(r, fields),
        **_period_keys(r, fields),
        min_provider_level=_min_level(r, context),
        min_provider_level_reason=(
            r.text("min_provider_level_reason") if "min_provider_level_reason" in r.value else None),
    )
    _check_category(r, category, context)
    return category


def _period_keys(r: DocumentReader, fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    # Absent, null or (for the rules) an empty list all mean "none", as the public catalogue writes it.
    found: dict[str, Any] = {}
    if r.value.get("display_rules"):
        found["display_rules"] = parse_rules(r, "display_rules", {spec.name: spec for spec in fields})
    for key in ("document_display_until", "display_extension"):
        if r.value.get(key) is not None:
            found[key] = parse_bounds(r, key)
    if r.value.get("publication_deadline") is not None:
        found["publication_deadline"] = parse_deadline(r, "publication_deadline")
    return found


def _minimum_age(r: DocumentReader) -> MinimumAge:
    rule = DocumentReader(r.value["minimum_age"], f"{r.where}: minimum_age", ("years", "reason"), (_NOTES,))
    rule.notes()
    return MinimumAge(years=rule.integer("years", 1, _LONGEST_AGE), reason=rule.text("reason"))


def _notice(r: DocumentReader, fields: tuple[FieldSpec, ...]) -> NoticeRule:
    rule = DocumentReader(r.value["notice_before_decision"], f"{r.where}: notice_before_decision",
                          ("field", "working_days", "reason"), (_NOTES,))
    rule.notes()
    name = rule.text("field")
    spec = next((spec for spec in fields if spec.name == name), None)
    if spec is None or spec.type is not FieldType.DATE or not spec.required:
        rule.fail("field", f"{name!r} is not a required date field of the category")
    return NoticeRule(field=name, working_days=rule.integer("working_days", 0, _LONGEST_NOTICE),
                      reason=rule.text("reason"))


def _min_level(r: DocumentReader, context: _Context) -> str | None:
    has_level, has_reason = "min_provider_level" in r.value, "min_provider_level_reason" in r.value
    if has_level != has_reason:
        r.fail("min_provider_level_reason", "a minimum provider level comes with its reason, and only then")
    if not has_level:
        return None
    level = r.text("min_provider_level")
    if level not in context.agency_levels:
        r.fail("min_provider_level", f"{level!r} is not one of the agency_levels")
    return level


def _check_category(r: DocumentReader, category: Category, context: _Context) -> None:
    """Enforce the rules that tie a category's attributes together."""
    if category.display_period == Duration():
        r.fail(
            "display_period",
            "must be longer than zero (DP-1: every category is displayed)",
        )
    if category.retention_period == Duration() or not not_longer(category.retention_period, LONGEST_RETENTION):
        r.fail(
            "retention_period",
            f"must be longer than zero and at most {LONGEST_RETENTION}: a record is kept a while after its display "
            "ends (objections, notices, audits), then erased",
        )
    if category.document_required and not category.document_types:
        r.fail(
            "document_types", "a category that requires a document must name its types"
        )
    if category.polarity is Polarity.NEGATIVE:
        _check_negative(r, category, context)
        return
    if category.severity is not None:
        r.fail("severity", f"must be null for a {category.polarity} category")
    if category.repairable:
        r.fail(
            "repairable",
            "must be false: repair applies to dishonesty records only (REP-1)",
        )
    if category.min_period_before_repair is not None:
        r.fail(
            "min_period_before_repair",
            "must be null for a category that is not repairable",
        )


def _check_negative(r: DocumentReader, category: Category, context: _Context) -> None:
    if category.severity is None:
        r.fail(
            "severity",
            "a negative category needs a severity (minor, general, serious or especially_serious)",
        )
    grade = context.grades[category.severity]
    if not (not_longer(grade.display_period_min, category.display_period)
            and not_longer(category.display_period, grade.display_period_max)):
        # DET-5: the grade sets the display period's bounds; a category states where within them it sits.
        r.fail(
            "display_period",
            f"{category.display_period} is outside the {grade.severity} grade's "
            f"{grade.display_period_min} to {grade.display_period_max}",
        )
    if not category.document_required:
        # DET-1: dishonesty may only be determined on a legally effective document.
        r.fail(
            "document_required",
            "must be true: a negative record rests on a legal document",
        )
    minimum = category.min_period_before_repair
    if not category.repairable:
        if minimum is not None:
            r.fail(
                "min_period_before_repair",
                "must be null for a category that is not repairable",
            )
        return
    if minimum is None:
        r.fail(
            "min_period_before_repair", "a repairable category needs a minimum period"
        )
    if not not_longer(minimum, category.display_period):
        r.fail(
            "min_period_before_repair", f"{minimum} is longer than the display period"
        )


def parse_catalogue(doc: Mapping[str, object]) -> Catalogue:
    """Return the catalogue described by ``doc`` (decoded JSON).

    Raises CatalogueInvalid, naming the category and key, when the document breaks any rule:
    unknown or missing keys, values outside their enumerations, duplicate codes, unknown code
    references, inconsistent polarity/severity/repair settings or out-of-order periods.
    """
    top = DocumentReader(doc, "catalogue", _TOP_KEYS, (_NOTES,))
    top.notes()
    version, published, basis = (
        top.text("version", _VERSION),
        top.day("published"),
        top.text("basis"),
    )
    dates, grades = _dates(top), _grades(top)
    lists = {key: _code_entries(top, key) for key in _CODE_LISTS}
    roles = _provider_roles(top)
    code_lists = {
        key: frozenset(entry.code for entry in lists[key]) for key in _CODE_LISTS
    }
    code_lists["provider_roles"] = frozenset(role.code for role in roles)
    context = _Context(
        domains=code_lists["domains"],
        provider_roles=code_lists["provider_roles"],
        agency_levels=code_lists["agency_levels"],
        document_types=code_lists["document_types"],
        code_lists=MappingProxyType(code_lists),
        grades=MappingProxyType({grade.severity: grade for grade in grades}),
    )
    categories: dict[str, Category] = {}
    for index, item in enumerate(top.items("categories")):
        category = _parse_category(item, index, context)
        if category.code in categories:
            raise CatalogueInvalid(f"category {category.code}: code: appears twice")
        categories[category.code] = category
    return Catalogue(
        version=version,
        published=published,
        categories=MappingProxyType(categories),
        occupational_groups=lists["occupational_groups"],
        document_types=tuple(entry for entry in lists["document_types"] if isinstance(entry, DocumentType)),
        raw=copy.deepcopy(dict(doc)),
        basis=basis,
        domains=lists["domains"],
        provider_roles=roles,
        dates=dates,
        grades=grades,
        agency_levels=lists["agency_levels"],
    )


def json_document(text: str, where: str, error: type[Exception]) -> Any:
    """Return the decoded JSON of a data file, raising `error` (naming `where`) if it is not valid JSON or an
    object has a key twice: json keeps the last of two equal keys silently, which would hide a mistake."""
    def refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise error(f"{where}: {key}: key appears twice in one object")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON: {exc}") from exc


def catalogue_from_json(text: str) -> Catalogue:
    """Return the catalogue in this JSON text; raise CatalogueInvalid if it is not valid."""
    return parse_catalogue(json_document(text, "catalogue", CatalogueInvalid))


@cache
def load_default() -> Catalogue:
    """Return the catalogue shipped in ``consent/data/catalogue.json`` (read once, then cached)."""
    text = (resources.files("consent") / "data" / "catalogue.json").read_text(
        encoding="utf-8"
    )
    return catalogue_from_json(text)
