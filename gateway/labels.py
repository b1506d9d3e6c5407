"""Words for codes, from the catalogue and the purposes files, in the reader's language.

A printed report is read by people who do not know our codes: a category, a field, a document type,
an occupational group or a purpose is named as the catalogue names it (zh, or en for an English reader).
A code the files do not name (an enum value, which the catalogue lists without words) is shown with its
underscores as spaces, never as an error: a report must always print.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.clock import CST
from consent.catalogue import Catalogue
from consent.errors import UnknownCategory
from consent.purposes import Purposes

LOCALES = ("zh", "en")


@dataclass(frozen=True)
class Labels:
    """The catalogue's and purposes' words in one language (`zh` or `en`)."""

    catalogue: Catalogue
    purposes: Purposes
    locale: str = "zh"

    def _pick(self, zh: str, en: str) -> str:
        return en if self.locale == "en" else zh

    def category(self, code: str) -> str:
        """Return the category's name, or the code of one the catalogue does not hold."""
        try:
            name = self.catalogue.category(code).name
        except UnknownCategory:
            return code
        return self._pick(name.zh, name.en)

    def field(self, category: str, name: str) -> str:
        """Return a payload field's label in its category."""
        try:
            specs = self.catalogue.category(category).fields
        except UnknownCategory:
            return name
        spec = next((s for s in specs if s.name == name), None)
        return name if spec is None else self._pick(spec.zh, spec.en)

    def value(self, value: Any) -> str:
        """Return a payload value in words: yes/no, an occupational group's name, a code spelt out."""
        if isinstance(value, bool):
            return self._pick("是", "yes") if value else self._pick("否", "no")
        if value is None:
            return "—"
        text = str(value)
        group = next((g for g in self.catalogue.occupational_groups if g.code == text), None)
        if group is not None:
            return self._pick(group.zh, group.en)
        return text.replace("_", " ") if text.isascii() and "_" in text else text

    def document_type(self, code: str) -> str:
        """Return a document type's name."""
        found = next((d for d in self.catalogue.document_types if d.code == code), None)
        return code if found is None else self._pick(found.zh, found.en)

    def purpose(self, code: str) -> str:
        """Return a purpose's name, or its code if the purposes file no longer holds it."""
        found = self.purposes.purposes.get(code)
        return code if found is None else self._pick(found.name.zh, found.name.en)


def beijing_minute(moment: datetime | str, locale: str = "zh") -> str:
    """Return a moment (aware datetime or ISO 8601 text) as Beijing time to the minute."""
    at = datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) else moment
    suffix = "Beijing time" if locale == "en" else "北京时间"
    return f"{at.astimezone(CST):%Y-%m-%d %H:%M} {suffix}"
