"""Words for codes, in the reader's language: the portal never shows a raw code (issue 12).

Categories, fields, code lists (occupational groups, document types, ...) and purposes are named by the
catalogue and purposes files; statuses, outcomes, refusal codes, objection steps, repair effects, roles and
the values of enumerated fields by gateway/data/labels.json. Templates reach these through the Jinja globals
and filters that `install` registers (see /work/notes/portal-foundation.md).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import get_locale

from audit.clock import CST
from consent.catalogue import Catalogue
from consent.purposes import Purposes
from gateway.web.context import runtime

LABELS_FILE = Path(__file__).resolve().parents[1] / "data" / "labels.json"
Pair = dict[str, str]


@cache
def labels_data() -> dict[str, Any]:
    """Return gateway/data/labels.json, read once."""
    return dict(json.loads(LABELS_FILE.read_text(encoding="utf-8")))


def lang() -> str:
    """Return the reader's language: 'zh' or 'en'."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh"


def _pick(pair: Pair | None, code: str) -> str:
    """Return the pair's text in the reader's language; a code nobody named reads as words, not as a code."""
    if pair is None:
        return code.replace("_", " ").strip().capitalize()
    return pair.get(lang()) or pair.get("zh") or code


def _catalogue() -> Catalogue:
    return runtime().catalogue


def _purposes() -> Purposes:
    return runtime().purposes


def category(code: str) -> str:
    """The name of a catalogue category."""
    try:
        found = _catalogue().category(code)
    except Exception:  # noqa: BLE001 - an unknown code (an old record's) still reads as words
        return _pick(None, code)
    return found.name.en if lang() == "en" else found.name.zh


def purpose(code: str) -> str:
    """The name of a registered purpose."""
    found = _purposes().purposes.get(code)
    if found is None:
        return _pick(None, code)
    return found.name.en if lang() == "en" else found.name.zh


def purpose_description(code: str) -> str:
    """What a purpose is for, in a sentence."""
    found = _purposes().purposes.get(code)
    if found is None:
        return ""
    return found.description.en if lang() == "en" else found.description.zh


def field(category_code: str, name: str) -> str:
    """The name of one field of a category's payload."""
    try:
        specs = _catalogue().category(category_code).fields
    except Exception:  # noqa: BLE001
        return _pick(None, name)
    for spec in specs:
        if spec.name == name:
            return spec.en if lang() == "en" else spec.zh
    return _pick(None, name)


def value(category_code: str, name: str, raw: object) -> str:
    """A payload value as words: enumerated values and code-list codes by their labels, dates as dates."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return label("yes_no", "yes" if raw else "no")
    text = str(raw)
    enum = labels_data()["values"].get(name)
    if enum is not None and text in enum:
        return _pick(enum[text], text)
    try:
        spec = next(s for s in _catalogue().category(category_code).fields if s.name == name)
    except Exception:  # noqa: BLE001 - not a known field: show the value as given
        return text
    if spec.code_list:
        for entry in _code_list(spec.code_list):
            if entry["code"] == text:
                return str(entry[lang()])
    if spec.type == "date":
        return day(text)
    return text


def _code_list(name: str) -> list[dict[str, Any]]:
    found = _catalogue().raw.get(name)
    return [entry for entry in found if isinstance(entry, dict)] if isinstance(found, list) else []


def code_entry(list_name: str, code: str) -> str:
    """A code of one of the catalogue's code lists (document_types, domains, provider_roles, ...)."""
    for entry in _code_list(list_name):
        if entry.get("code") == code:
            return str(entry.get(lang()) or code)
    return _pick(None, code)


def label(kind: str, code: str | None) -> str:
    """A code of labels.json's section `kind` (statuses, outcomes, refusals, steps, effects, roles, ...)."""
    if not code:
        return ""
    return _pick(labels_data().get(kind, {}).get(code), code)


def bjt(moment: datetime | str | None, zone: bool = True) -> str:
    """A moment in Beijing time to the minute ('2026-11-22 10:00 北京时间'); accepts ISO 8601 text."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    text = moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    if not zone:
        return text
    return text + (" Beijing time" if lang() == "en" else " 北京时间")


def day(value: date | str | None) -> str:
    """A date as the reader writes it: '2026年11月22日' or '22 Nov 2026'."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(CST).date()
    return value.strftime("%d %b %Y").lstrip("0") if lang() == "en" else f"{value.year}年{value.month}月{value.day}日"


def pick(pair: object) -> str:
    """The reader's half of a {zh, en} pair: a dict, or an object with `zh` and `en` attributes."""
    if isinstance(pair, dict):
        return _pick(pair, "")
    words = getattr(pair, lang(), None)
    if isinstance(words, str):
        return words
    return "" if pair is None else str(pair)


def sep() -> str:
    """The separator of a list of words: '、' in Chinese, ', ' in English."""
    return ", " if lang() == "en" else "、"


def html_lang() -> str:
    """The `lang` attribute of the page: 'zh-Hans' or 'en'."""
    return "en" if lang() == "en" else "zh-Hans"


def install(app: Flask) -> None:
    """Register the helpers as Jinja globals and filters."""
    app.add_template_global(category, "category_name")
    app.add_template_global(purpose, "purpose_name")
    app.add_template_global(purpose_description)
    app.add_template_global(field, "field_name")
    app.add_template_global(value, "field_value")
    app.add_template_global(code_entry)
    app.add_template_global(label)
    app.add_template_global(lang)
    app.add_template_global(html_lang)
    app.add_template_global(sep)
    app.add_template_filter(bjt)
    app.add_template_filter(day)
    app.add_template_filter(pick)

