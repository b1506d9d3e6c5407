"""Payload fields of a catalogue category: their types, and how a submitted payload is checked.

Nothing outside the catalogue may be recorded (CAT-6), so a payload holds only the fields its
category names, each of the declared type; values are returned in the form they are stored in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NoReturn

from stdnum.cn import uscc

from consent.errors import PayloadInvalid

__all__ = ["DateLimit", "FieldFormat", "FieldSpec", "FieldType", "normalise_payload"]


class FieldType(StrEnum):
    """Type of a payload field; decimals travel as strings so amounts keep their cents."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    BOOLEAN = "boolean"
    ENUM = "enum"
    CODE = "code"


class DateLimit(StrEnum):
    """The latest a date field may be: a past fact is not after today, or not after the record's decision."""

    TODAY = "today"
    DECIDED_AT = "decided_at"


class FieldFormat(StrEnum):
    """A checked format of a string field."""

    # GB 32100-2015: the 18-character code of an organisation (its check character from python-stdnum's cn.uscc).
    UNIFIED_SOCIAL_CREDIT_CODE = "unified_social_credit_code"


# GB 32100-2015: the registering authority and the kind of organisation (letters too: N for rural collective
# economic organisations, Y for others), the 6-digit administrative area, the 9-character organisation code, and
# the check character. python-stdnum's cn.uscc.validate wants digits in the first 8 places, which refuses real
# codes such as a village collective's N2...; its check character (calc_check_digit) is used as it is.
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}")
_DECIMAL = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,6})?")
_DECIMAL_INT_LIMIT = 10**18  # the 18 integer digits _DECIMAL allows
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a category's payload; ``codes`` holds the resolved ``code_list`` values."""

    name: str
    type: FieldType
    required: bool
    third_party: bool
    zh: str
    en: str
    max_length: int | None = None
    enum: tuple[str, ...] | None = None
    code_list: str | None = None
    codes: frozenset[str] = field(default=frozenset(), repr=False)
    format: FieldFormat | None = None
    not_after: DateLimit | None = None

    def normalise(self, value: object) -> object:
        """Return ``value`` in stored form; raise PayloadInvalid naming ``payload.<name>``."""
        match self.type:
            case FieldType.STRING:
                return self._string(value)
            case FieldType.INTEGER:
                if isinstance(value, bool) or not isinstance(value, int):
                    self._reject("must be an integer", "integer")
                return value
            case FieldType.DECIMAL:
                return self._decimal(value)
            case FieldType.DATE:
                return self._date(value)
            case FieldType.BOOLEAN:
                if not isinstance(value, bool):
                    self._reject("must be true or false", "boolean")
                return value
            case FieldType.ENUM:
                if not isinstance(value, str) or value not in (self.enum or ()):
                    self._reject(f"must be one of: {', '.join(self.enum or ())}", "enum")
                return value
            case FieldType.CODE:
                if not isinstance(value, str) or value not in self.codes:
                    self._reject(f"must be a code from the {self.code_list} list", "code_list")
                return value

    def to_public(self) -> dict[str, object]:
        """Return the field as JSON data, leaving out options it does not use."""
        doc: dict[str, object] = {
            "name": self.name,
            "type": self.type.value,
            "required": self.required,
            "third_party": self.third_party,
            "zh": self.zh,
            "en": self.en,
        }
        if self.max_length is not None:
            doc["max_length"] = self.max_length
        if self.enum is not None:
            doc["enum"] = list(self.enum)
        if self.code_list is not None:
            doc["code_list"] = self.code_list
        if self.format is not None:
            doc["format"] = self.format.value
        if self.not_after is not None:
            doc["not_after"] = self.not_after.value
        return doc

    def _reject(self, reason: str, code: str) -> NoReturn:
        raise PayloadInvalid(f"payload.{self.name}", reason, code)

    def _string(self, value: object) -> str:
        if not isinstance(value, str):
            self._reject("must be a string", "string")
        if not value.strip():
            self._reject("must not be empty", "empty")
        if self.max_length is not None and len(value) > self.max_length:
            self._reject(f"must be at most {self.max_length} characters", "too_long")
        if hidden_characters(value):
            self._reject(HIDDEN_CHARACTERS_REASON, "hidden_characters")
        if self.format is FieldFormat.UNIFIED_SOCIAL_CREDIT_CODE:
            return self._credit_code(value)
        return value

    def _credit_code(self, value: str) -> str:
        number = uscc.compact(value)
        if len(number) != 18:
            self._reject("a unified social credit code (GB 32100-2015) has 18 characters", "credit_code")
        if not _CREDIT_CODE.fullmatch(number):
            self._reject("not a unified social credit code (GB 32100-2015): two code characters, 6 digits of "
                         "the registering area, then digits and capital letters other than I, O, S, V and Z",
                         "credit_code")
        if number[-1] != uscc.calc_check_digit(number[:17]):
            self._reject("not a unified social credit code (GB 32100-2015): the check character is wrong",
                         "credit_code")
        return number  # stored compact and upper-case

    def _decimal(self, value: object) -> str:
        # Floats are refused: a binary float cannot hold 0.10 exactly, and amounts must.
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value < _DECIMAL_INT_LIMIT
        ):
            return str(value)
        if not isinstance(value, str) or _DECIMAL.fullmatch(value) is None:
            self._reject('must be a non-negative decimal string such as "1200.00"', "decimal")
        return str(Decimal(value))

    def _date(self, value: object) -> str:
        if type(value) is date:  # a datetime is a date too, but carries a time of day
            return value.isoformat()
        if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
            self._reject("must be a date written YYYY-MM-DD", "date")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            self._reject("must be a real calendar date (YYYY-MM-DD)", "date")


# Control characters (NUL cannot even be stored in PostgreSQL text), the bidirectional overrides and
# isolates, which make a text read differently from what it holds (Trojan Source, CVE-2021-42574), and lone
# surrogates, which are no characters at all and cannot be encoded.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
HIDDEN_CHARACTERS_REASON = "must not contain control characters or bidirectional formatting characters"


def hidden_characters(value: str) -> bool:
    """Return whether a text holds a control or bidirectional formatting character (tab and newline allowed)."""
    return _HIDDEN.search(value) is not None


def normalise_payload(specs: Sequence[FieldSpec], payload: object,
                      names: frozenset[str] | None = None) -> dict[str, object]:
    """Return the payload normalised, in field order; raise PayloadInvalid on the first fault.

    Unknown fields are refused, so nothing outside the catalogue is recorded (CAT-6).
    A null value counts as absent. `names`, the specs' names, may be given by a caller that keeps them.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):  # an ABC's check costs: a dict first
        raise PayloadInvalid("payload", "must be an object")
    if names is None:
        names = frozenset(spec.name for spec in specs)
    if not names.issuperset(payload):
        unknown = sorted(str(key) for key in payload if key not in names)
        raise PayloadInvalid(f"payload.{unknown[0]}", "unknown field")
    result: dict[str, object] = {}
    for spec in specs:
        value = payload.get(spec.name)
        if value is None:
            if spec.required:
                raise PayloadInvalid(f"payload.{spec.name}", "missing required field", "required")
            continue
        result[spec.name] = spec.normalise(value)
    return result
