"""Forms built from the catalogue: one control per field of a category, and the payload read back from them.

Shared by the agency's record form and the person's declaration form (templates/_catalogue_fields.html), so
both ask for a category's fields the same way and show the entry rules' refusals beside the field they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _

from consent.catalogue import Category
from consent.fields import FieldSpec, FieldType


def input_type(spec: FieldSpec) -> str:
    """Return the form control of a catalogue field: select for lists, date, number or text."""
    if spec.type in (FieldType.ENUM, FieldType.CODE, FieldType.BOOLEAN):
        return "select"
    return {FieldType.DATE: "date", FieldType.INTEGER: "number", FieldType.DECIMAL: "decimal"}.get(spec.type, "text")


def payload_from_form(category: Category, form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the payload of the `payload.<field>` inputs, and the errors of fields not even of their type.

    Empty inputs are left out, so the entry rules name a missing required field themselves.
    """
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {}
    for spec in category.fields:
        value = form.get(f"payload.{spec.name}", "").strip()
        if not value:
            continue
        if spec.type is FieldType.INTEGER:
            try:
                payload[spec.name] = int(value)
            except ValueError:
                errors[f"payload.{spec.name}"] = _("Give a whole number.")
        elif spec.type is FieldType.BOOLEAN:
            payload[spec.name] = value == "true"
        else:
            payload[spec.name] = value
    return payload, errors
