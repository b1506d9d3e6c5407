"""Registered purposes: what each kind of query may receive, and for how long (the minimal-use matrix).

A purpose names who may use it, the catalogue categories and fields a consenting person's report may
contain for it, and the ceilings of a consent given for it. Lawful, legitimate, necessary, minimal
(合法、正当、必要、最小化, AUTH-1): a consent request may ask for less than its purpose allows, never
more, and no consent lasts long or serves many queries (AUTH-3 forbids one authorisation for life).

The shipped matrix is ``consent/data/purposes.json``. Like the catalogue, its numbers are data:
changing a purpose is a new version of that file, never a code change. This module checks that a
purposes file keeps its rules and agrees with the catalogue it is loaded against.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from consent.catalogue import Catalogue, DocumentReader, Label, Polarity, ShareScope, json_document
from consent.durations import Duration, not_longer, parse_days, parse_duration, subtract_duration
from consent.errors import PurposesInvalid, UnknownPurpose

__all__ = [
    "INSTITUTION_KINDS",
    "MAX_CONSENT",
    "MAX_DATA_LIFE",
    "MAX_DATA_RANGE",
    "Purpose",
    "Purposes",
    "load_default_purposes",
    "parse_purposes",
    "purposes_from_json",
]

INSTITUTION_KINDS: frozenset[str] = frozenset({"employer", "landlord", "lender", "agency"})
# AUTH-3 forbids one authorisation for life; these are the outer bounds any purpose may set.
MAX_CONSENT = Duration(days=90)
# How long an institution may fetch a report it was given (PIPL Art. 19: keep no longer than needed).
MAX_DATA_LIFE = Duration(days=30)
# The credit reporting regulation (征信业管理条例) keeps negative information five years; no purpose
# needs to look further back than that, and the bound keeps `decided_since` far from date.min.
MAX_DATA_RANGE = Duration(years=5)


# --- purposes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purpose:
    """One registered purpose: who may use it, what it may receive, and its consent ceilings."""

    code: str
    name: Label
    description: Label
    legal_basis: str
    institution_kinds: frozenset[str]
    fields: Mapping[str, frozenset[str]] = field(hash=False)
    categories_reason: str
    max_consent: Duration
    max_uses: int
    data_range: Duration
    data_life: Duration
    incentive_score: bool
    # The payload field that limits a report to one value named in the request (an occupational credit report
    # holds one group's records only), with the values the catalogue knows; None: not limited.
    scope: str | None = None
    scope_codes: frozenset[str] = frozenset()

    @property
    def categories(self) -> frozenset[str]:
        """Return the codes of the catalogue categories this purpose may receive."""
        return frozenset(self.fields)

    def decided_since(self, today: date) -> date:
        """Return the earliest decision date of a record released today: records decided on or after it."""
        return subtract_duration(today, self.data_range)

    def to_public(self) -> dict[str, object]:
        """Return the purpose as JSON data in the file's own shape, durations as ISO 8601 strings.

        Its internal notes are not part of a Purpose and so never published.
        """
        return {
            "code": self.code,
            "name": {"zh": self.name.zh, "en": self.name.en},
            "description": {"zh": self.description.zh, "en": self.description.en},
            "legal_basis": self.legal_basis,
            "institution_kinds": sorted(self.institution_kinds),
            "categories": {code: sorted(names) for code, names in self.fields.items()},
            "categories_reason": self.categories_reason,
            "max_consent": self.max_consent.isoformat(),
            "max_uses": self.max_uses,
            "data_range": self.data_range.isoformat(),
            "data_life": self.data_life.isoformat(),
            "incentive_score": self.incentive_score,
            **({} if self.scope is None else {"scope": self.scope}),
        }


@dataclass(frozen=True)
class Purposes:
    """A parsed, validated purposes version; ``raw`` is a private copy of the source document."""

    version: str
    published: date
    purposes: Mapping[str, Purpose] = field(hash=False)
    raw: dict[str, object] = field(repr=False, compare=False, hash=False)
    basis: str

    def purpose(self, code: str) -> Purpose:
        """Return the purpose with this code; raise UnknownPurpose if there is none."""
        try:
            return self.purposes[code]
        except KeyError:
            raise UnknownPurpose(code) from None

    def to_public(self) -> dict[str, object]:
        """Return every purpose as JSON data, as served at ``GET /api/v1/purposes``."""
        return {
            "version": self.version,
            "published": self.published.isoformat(),
            "basis": self.basis,
            "purposes": [purpose.to_public() for purpose in self.purposes.values()],
        }


# --- parsing ----------------------------------------------------------------------------------

_VERSION = re.compile(r"[0-9]{4}\.[0-9]{1,2}\.[0-9]{1,4}")
# The audit log keeps the purpose code in a 60-character column.
_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_CODE_MAX = 60

_TOP_KEYS = ("version", "published", "basis", "purposes")
# Internal cross-references (policy item ids, seed lines, what is still to verify), at the top and in each
# purpose: kept with the data, checked as text, never published (GET /api/v1/purposes names laws and
# documents only), as in the catalogue.
_NOTES = "internal_notes"
_PURPOSE_KEYS = (
    "code",
    "name",
    "description",
    "legal_basis",
    "institution_kinds",
    "categories",
    "categories_reason",
    "max_consent",
    "max_uses",
    "data_range",
    "data_life",
    "incentive_score",
)
# The one field a purpose may limit its reports by: the key occupational group of a licence or sanction (KG-1
# to KG-4, 职业信用报告), a code list of the catalogue.
_SCOPES = {"occupational_group": "occupational_groups"}
_THIRD_PARTY_SCOPES = frozenset({ShareScope.AUTHORISED_QUERY, ShareScope.PUBLIC})


class _Reader(DocumentReader):
    """One JSON object of the purposes file; every error names ``where`` and the key."""

    error = PurposesInvalid

    def label(self, key: str) -> Label:
        inner = _Reader(self.value[key], f"{self.where}: {key}", ("zh", "en"))
        return Label(zh=inner.text("zh"), en=inner.text("en"))

    def days(self, key: str, ceiling: Duration) -> Duration:
        value = self.value[key]
        if not isinstance(value, str):
            self.fail(key, "must be an ISO 8601 duration string such as P30D")
        try:
            duration = parse_days(value)
        except ValueError as exc:
            self.fail(key, str(exc))
        if duration.days < 1:
            self.fail(key, "must be at least one day")
        if duration.as_timedelta() > ceiling.as_timedelta():
            self.fail(key, f"{value} is longer than {ceiling}")
        return duration

    def bounded_duration(self, key: str, ceiling: Duration) -> Duration:
        value = self.value[key]
        if not isinstance(value, str):
            self.fail(key, "must be an ISO 8601 duration string such as P3Y")
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            self.fail(key, str(exc))
        if duration == Duration():
            self.fail(key, "must be longer than zero")
        if not not_longer(duration, ceiling):
            self.fail(key, f"{value} is longer than {ceiling}")
        return duration

    def count(self, key: str) -> int:
        value = self.value[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, "must be an integer of at least 1")
        return value

    def names(self, key: str) -> list[str]:
        return self.name_list(key, self.value[key])

    def name_list(self, key: str, value: object) -> list[str]:
        """Return ``value`` (reported as ``key``) if it is a non-empty list of distinct strings."""
        if not isinstance(value, list) or not value:
            self.fail(key, "must be a non-empty list")
        if not all(isinstance(item, str) for item in value):
            self.fail(key, "must list strings only")
        if len(set(value)) != len(value):
            self.fail(key, "lists a name twice")
        return [str(item) for item in value]


def _kinds(r: _Reader) -> frozenset[str]:
    kinds = r.names("institution_kinds")
    unknown = sorted(set(kinds) - INSTITUTION_KINDS)
    if unknown:
        r.fail("institution_kinds", f"{unknown[0]!r} is not one of: {', '.join(sorted(INSTITUTION_KINDS))}")
    return frozenset(kinds)


def _fields(r: _Reader, catalogue: Catalogue) -> Mapping[str, frozenset[str]]:
    """Return the category -> fields matrix after checking each entry against the catalogue."""
    value = r.value["categories"]
    if not isinstance(value, Mapping) or not value:
        r.fail("categories", "must be a non-empty object of category code -> field names")
    matrix: dict[str, frozenset[str]] = {}
    for code, names in value.items():
        category = catalogue.categories.get(code)
        if category is None:
            r.fail("categories", f"{code} is not a category of catalogue {catalogue.version}")
        if category.share_scope not in _THIRD_PARTY_SCOPES:
            # CAT-4: a self_only category is never shared, whatever a person consents to.
            r.fail("categories", f"{code} is {category.share_scope.value} and never released to a third party")
        key = f"categories.{code}"
        chosen = r.name_list(key, names)
        known = {spec.name for spec in category.fields}
        for name in chosen:
            if name not in known:
                r.fail(key, f"{name} is not a field of category {code}")
            if name not in category.third_party_fields:
                r.fail(key, f"{name} is never given to third parties (third_party is false in the catalogue)")
        matrix[code] = frozenset(chosen)
    return MappingProxyType(matrix)


def _only_positive(r: _Reader, fields: Mapping[str, frozenset[str]], catalogue: Catalogue) -> None:
    """Refuse an incentive purpose that would receive anything but positive records.

    EVAL-1: the evaluation serves incentives only, never punishment; a purpose that also screens people
    out on negative records could turn it into grounds for refusal, so it may not receive it.
    """
    for code in fields:
        if catalogue.category(code).polarity is not Polarity.POSITIVE:
            r.fail("incentive_score", f"an incentive purpose receives positive records only; {code} is "
                                      f"{catalogue.category(code).polarity.value}")


def _scope(r: _Reader, fields: Mapping[str, frozenset[str]], catalogue: Catalogue) -> tuple[str | None, frozenset[str]]:
    """Return the field a purpose's reports are limited by and its known values, after checking every category
    has it as a released field of the catalogue's code list (so the recipient sees which group a record is of)."""
    if "scope" not in r.value:
        return None, frozenset()
    scope = r.text("scope")
    code_list = _SCOPES.get(scope)
    if code_list is None:
        r.fail("scope", f"must be one of: {', '.join(sorted(_SCOPES))}")
    known: frozenset[str] = frozenset()
    for code, names in fields.items():
        spec = next((f for f in catalogue.category(code).fields if f.name == scope), None)
        if spec is None or spec.code_list != code_list:
            r.fail("scope", f"category {code} has no {scope} field of the {code_list} list")
        if scope not in names:
            r.fail(f"categories.{code}", f"must include {scope}, the field the report is limited by")
        known = spec.codes
    return scope, known


def _parse_purpose(value: object, index: int, catalogue: Catalogue) -> Purpose:
    code = value.get("code") if isinstance(value, Mapping) else None
    where = f"purpose {code}" if isinstance(code, str) and code.strip() else f"purposes[{index}]"
    r = _Reader(value, where, _PURPOSE_KEYS, (_NOTES, "scope"))
    r.notes()
    code = r.text("code", _CODE)
    if len(code) > _CODE_MAX:
        r.fail("code", f"must be at most {_CODE_MAX} characters")
    fields = _fields(r, catalogue)
    incentive = r.flag("incentive_score")
    if incentive:
        _only_positive(r, fields, catalogue)
    scope, codes = _scope(r, fields, catalogue)
    return Purpose(
        code=code,
        name=r.label("name"),
        description=r.label("description"),
        legal_basis=r.text("legal_basis"),
        institution_kinds=_kinds(r),
        fields=fields,
        categories_reason=r.text("categories_reason"),
        max_consent=r.days("max_consent", MAX_CONSENT),
        max_uses=r.count("max_uses"),
        data_range=r.bounded_duration("data_range", MAX_DATA_RANGE),
        data_life=r.days("data_life", MAX_DATA_LIFE),
        incentive_score=incentive,
        scope=scope,
        scope_codes=codes,
    )


def parse_purposes(doc: Mapping[str, object], catalogue: Catalogue) -> Purposes:
    """Return the purposes described by ``doc`` (decoded JSON), checked against ``catalogue``.

    Raises PurposesInvalid, naming the purpose and key, when the document breaks any rule: unknown
    or missing keys, institution kinds outside the four, categories not in the catalogue or never
    shared, fields not in their category or withheld from third parties, consent ceilings above
    P90D, a data life above P30D, fewer than one use, or a code used twice.
    """
    top = _Reader(doc, "purposes", _TOP_KEYS, (_NOTES,))
    top.notes()
    version, published, basis = top.text("version", _VERSION), top.day("published"), top.text("basis")
    items = top.value["purposes"]
    if not isinstance(items, list) or not items:
        top.fail("purposes", "must be a non-empty list")
    purposes: dict[str, Purpose] = {}
    for index, item in enumerate(items):
        purpose = _parse_purpose(item, index, catalogue)
        if purpose.code in purposes:
            raise PurposesInvalid(f"purpose {purpose.code}: code: appears twice")
        purposes[purpose.code] = purpose
    return Purposes(
        version=version,
        published=published,
        purposes=MappingProxyType(purposes),
        raw=copy.deepcopy(dict(doc)),
        basis=basis,
    )


def purposes_from_json(text: str, catalogue: Catalogue) -> Purposes:
    """Return the purposes in this JSON text; raise PurposesInvalid if it is not valid."""
    return parse_purposes(json_document(text, "purposes", PurposesInvalid), catalogue)


def load_default_purposes(catalogue: Catalogue) -> Purposes:
    """Return the purposes shipped in ``consent/data/purposes.json``, checked against ``catalogue``.

    Read and checked once per catalogue (so once per catalogue version), then cached.
    """
    return _load_default(catalogue)


@lru_cache(maxsize=8)
def _load_default(catalogue: Catalogue) -> Purposes:
    text = (resources.files("consent") / "data" / "purposes.json").read_text(encoding="utf-8")
    return purposes_from_json(text, catalogue)
