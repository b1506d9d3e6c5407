"""Why a form's field was refused, in the reader's language (issue 12: no English sentence on a Chinese page).

The entry rules (consent.fields, consent.entry), a record's shape (gateway.usecases.records) and the citizen-ID
checks (vault.identity) explain a refusal in an English sentence, which the JSON API returns as it is. The
portal says it in words instead: by the rule's `code` (PayloadInvalid), `check` (InvalidCitizenId) or the
schema's sentence (ShapeInvalid). A rule that names no code reads, in Chinese, as a general
sentence asking to check the field; in English, as the rule's own sentence.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from consent.errors import CategoriesOutsidePurpose, CeilingExceeded, KindNotAllowed, PayloadInvalid
from consent.fields import HIDDEN_CHARACTERS_REASON
from gateway.errors import ExportTooLarge, InvalidInput
from gateway.usecases.records import ShapeInvalid
from gateway.web.labels import lang
from vault.errors import InvalidCitizenId

# PayloadInvalid.code -> what to do about it.
_PAYLOAD = {
    "required": _l("Fill in this field: it is required."),
    "integer": _l("Give a whole number."),
    "decimal": _l("Give an amount in digits, with a decimal point if needed, such as 1200.00."),
    "date": _l("Give a real date."),
    "boolean": _l("Choose yes or no."),
    "enum": _l("Choose one of the options."),
    "code_list": _l("Choose one of the options."),
    "string": _l("Fill in this field with text."),
    "empty": _l("Fill in this field: it is required."),
    "too_long": _l("Shorten this text: it is too long."),
    "hidden_characters": _l("Remove the invisible control characters from this text (they can come with a paste)."),
    "credit_code": _l("Not a unified social credit code: it has 18 digits and capital letters, the last a check "
                      "character."),
    "after_today": _l("This date is after today."),
    "after_decision": _l("This date is after the date of the decision."),
    "before_birth": _l("This date is before the person was born (by the birth date in the citizen ID)."),
    "document_type": _l("A record of this category does not rest on this kind of document."),
    "not_yet_effective": _l("This date is in the future: the document is not yet effective."),
}

# InvalidCitizenId.check -> what is wrong with the number.
_CITIZEN_ID = {
    "type": _l("A citizen ID has 18 characters: 17 digits, then a digit or X."),
    "length": _l("A citizen ID has 18 characters: 17 digits, then a digit or X."),
    "characters": _l("A citizen ID has 18 characters: 17 digits, then a digit or X."),
    "checksum": _l("This citizen ID is mistyped: its last character does not match the others."),
    "birth_date": _l("This citizen ID holds no real birth date."),
    "division_code": _l("This citizen ID begins with no known area code."),
}


# A record's shape (gateway.usecases.records) says what is wrong in the words of the API's schema.
_SHAPE = {
    "Missing data for required field.": _PAYLOAD["required"],
    "Not a valid date.": _PAYLOAD["date"],
    HIDDEN_CHARACTERS_REASON: _PAYLOAD["hidden_characters"],
}
_LENGTH = re.compile(r"Length must be between 1 and (\d+)\.")


def refusal(exc: Exception) -> str:
    """Return why the field was refused, in the reader's language."""
    if isinstance(exc, PayloadInvalid) and exc.code in _PAYLOAD:
        return str(_PAYLOAD[exc.code])
    if isinstance(exc, ShapeInvalid) and exc.reason in _SHAPE:
        return str(_SHAPE[exc.reason])
    if isinstance(exc, ShapeInvalid) and (length := _LENGTH.fullmatch(exc.reason)):
        return str(_("Fill in this field, in at most %(num)s characters.", num=length.group(1)))
    if isinstance(exc, CeilingExceeded):
        return str(_("More than this purpose allows: see its limits above."))
    if isinstance(exc, CategoriesOutsidePurpose):
        return str(_("Ask only for categories this purpose covers."))
    if isinstance(exc, KindNotAllowed):
        return str(_("An institution of your kind may not ask for this purpose."))
    if isinstance(exc, ExportTooLarge):
        return str(_("More entries match than one export may hold: narrow the dates or the filters."))
    if isinstance(exc, InvalidInput) and exc.field == "since":
        return str(_("The start date must come before the end date."))
    if isinstance(exc, InvalidCitizenId) and exc.check in _CITIZEN_ID:
        return str(_CITIZEN_ID[exc.check])
    if lang() == "en":
        return str(getattr(exc, "reason", None) or getattr(exc, "message", None) or exc)
    return str(_("This entry does not meet the rules for this field; check it and try again."))
