"""Errors raised by the consent context.

    ConsentError
    ├── CatalogueError
    │   ├── CatalogueInvalid     the catalogue data file breaks its own rules
    │   ├── UnknownCategory      a category code is not in the catalogue
    │   └── PayloadInvalid       a payload or document field is unknown, missing or of the wrong type
    ├── CategoryNotAllowed       a provider submits a category it is not registered for, or its role may not
    ├── PurposesInvalid          the purposes data file breaks its own rules
    ├── EvaluationInvalid        the evaluation data file breaks its own rules
    ├── UnknownPurpose           a purpose code is not in the purposes file
    ├── RequestInvalid           a consent request breaks a rule of its purpose (field, reason)
    │   ├── CategoriesOutsidePurpose   categories the purpose does not cover (names them)
    │   └── CeilingExceeded            valid_for or max_uses above the purpose's ceiling
    ├── KindNotAllowed           the institution's kind may not use this purpose
    ├── RequestNotFound          no consent request with that id for this caller
    ├── RequestNotPending        the request was already answered or has lapsed
    │   └── RequestAlreadyDecided      approved or denied already (two answers at once: the second)
    ├── GrantNotFound            no grant with that id for this person
    ├── QueryRefused             a query is refused; `code` is the problem code
    │   ├── ConsentMissing       consent_missing
    │   ├── ConsentPending       consent_pending
    │   ├── ConsentDenied        consent_denied
    │   ├── ConsentRevoked       consent_revoked
    │   ├── ConsentExpired       consent_expired
    │   ├── ConsentExhausted     consent_exhausted
    │   └── WrongInstitution     wrong_institution
    ├── ObjectionsInvalid        the objections data file breaks its own rules
    ├── NoticesInvalid           the notices data file breaks its own rules
    ├── ObjectionOpen            the record already has an open objection
    ├── ObjectionStepOutOfOrder  a step taken when the objection is not waiting for it (names the status)
    ├── DeclarationsInvalid      the declarations data file breaks its own rules
    ├── NotDeclarable            a category not open to voluntary registration (names the categories that are)
    ├── DeclarationOpen          the same item is already declared and waits for verification
    ├── DeclarationStepOutOfOrder  a declaration verified when it no longer waits (names the status)
    ├── CommitmentsInvalid       the commitments data file breaks its own rules
    ├── CommitmentStepOutOfOrder   an outcome recorded on a commitment already closed (names the status)
    ├── EvidenceInvalid          an evidence file is of a type, size or count not allowed (field, reason)
    ├── ListsInvalid             the lists data file breaks its own rules
    ├── LevelTooLow              an agency below the list's lowest administrative level proposes a listing
    ├── Listed                   a red listing for a person on the black list (LIST-10)
    ├── ListingOpen              the record already rests a listing of that kind that has not ended
    ├── ListingStepOutOfOrder    a step on a listing that is not waiting for it (names the status)
    ├── ReportNotFound           no report with that id for this caller
    └── ReportGone               the report's retrieval deadline has passed
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date


class ConsentError(Exception):
    """Base class of every consent error."""


class CatalogueError(ConsentError):
    """Base class of catalogue errors."""


class CatalogueInvalid(CatalogueError):
    """Raised when the catalogue document itself is malformed."""


class UnknownCategory(CatalogueError):
    """Raised when a category code is not in the catalogue."""

    def __init__(self, code: str) -> None:
        super().__init__(f"category {code!r} is not in the catalogue")
        self.code = code


class PayloadInvalid(CatalogueError):
    """Raised when a payload field is unknown, missing or of the wrong type. `reason` is the API's English
    sentence; `code` (when set) names the rule, so the portal can say it in the reader's language."""

    def __init__(self, field: str, reason: str, code: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code


class CategoryNotAllowed(ConsentError):
    """Raised when a provider submits a category it is not registered for, or its agency's role or level
    may not file (DET-4, LIST-6); `reason` says which."""

    def __init__(self, code: str, reason: str | None = None) -> None:
        self.reason = reason or f"this provider is not registered for category {code!r}"
        super().__init__(self.reason)
        self.code = code


class PurposesInvalid(ConsentError):
    """Raised when the purposes document is malformed."""


class EvaluationInvalid(ConsentError):
    """Raised when the evaluation document (consent/data/evaluation.json) is malformed."""


class UnknownPurpose(ConsentError):
    """Raised when a purpose code is not in the purposes file."""

    def __init__(self, code: str) -> None:
        super().__init__(f"purpose {code!r} is not a registered purpose")
        self.code = code


class RequestInvalid(ConsentError):
    """Raised when a consent request or approval breaks a rule; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CategoriesOutsidePurpose(RequestInvalid):
    """Raised when categories are asked for that the purpose does not cover."""

    def __init__(self, categories: Iterable[str], purpose: str) -> None:
        names = sorted(categories)
        super().__init__("categories", f"not needed for purpose {purpose}: {', '.join(names)}")
        self.categories = names


class CeilingExceeded(RequestInvalid):
    """Raised when valid_for or max_uses exceeds what the purpose allows."""


class KindNotAllowed(ConsentError):
    """Raised when an institution of this kind may not use the purpose."""


class RequestNotFound(ConsentError):
    """Raised when no consent request has that id for this caller."""


class RequestNotPending(ConsentError):
    """Raised when a request was already answered or has lapsed."""


class RequestAlreadyDecided(RequestNotPending):
    """Raised when a request was already approved or denied: a second answer changes nothing."""


class GrantNotFound(ConsentError):
    """Raised when no grant has that id for this person."""


class QueryRefused(ConsentError):
    """A refused query; the subclass's `code` is the problem code, audited as the reason."""

    code = "consent_missing"


class ConsentMissing(QueryRefused):
    code = "consent_missing"


class ConsentPending(QueryRefused):
    code = "consent_pending"


class ConsentDenied(QueryRefused):
    code = "consent_denied"


class ConsentRevoked(QueryRefused):
    code = "consent_revoked"


class ConsentExpired(QueryRefused):
    code = "consent_expired"


class ConsentExhausted(QueryRefused):
    code = "consent_exhausted"


class WrongInstitution(QueryRefused):
    code = "wrong_institution"


class ReportNotFound(ConsentError):
    """Raised when no report has that id for this caller."""


class ReportGone(ConsentError):
    """Raised when the report's retrieval deadline has passed; its contents are purged."""


class ObjectionsInvalid(ConsentError):
    """Raised when the objections data file breaks its own rules."""


class NoticesInvalid(ConsentError):
    """Raised when the notices data file (look-back of each purpose) breaks its own rules."""


class ObjectionOpen(ConsentError):
    """Raised when the record already has an open objection: one at a time per record."""


class ObjectionStepOutOfOrder(ConsentError):
    """Raised when a step is taken out of order; `status` is where the objection stands."""

    def __init__(self, objection_id: str, status: str) -> None:
        super().__init__(f"objection {objection_id} is {status}")
        self.objection_id = objection_id
        self.status = status


class EvidenceInvalid(ConsentError):
    """Raised when an evidence file breaks a rule: too many, too large in all, or not the type its bytes say."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RepairsInvalid(ConsentError):
    """Raised when the repairs data file breaks its own rules."""


class NotRepairable(ConsentError):
    """Raised when the record's category may not be repaired; `basis` is the category's legal basis."""

    def __init__(self, category: str, basis: str) -> None:
        super().__init__(f"{category} is not repairable")
        self.category = category
        self.basis = basis


class RepairTooEarly(ConsentError):
    """Raised when repair is applied for before the category's minimum period has passed."""

    def __init__(self, earliest: date) -> None:
        super().__init__(f"repair may be applied for from {earliest.isoformat()}")
        self.earliest = earliest


class RepairOpen(ConsentError):
    """Raised when the record already has an open repair application: one at a time per record."""


class RepairStepOutOfOrder(ConsentError):
    """Raised when a repair application is decided when it is no longer open; `status` is where it stands."""

    def __init__(self, repair_id: str, status: str) -> None:
        super().__init__(f"repair {repair_id} is {status}")
        self.repair_id = repair_id
        self.status = status


class ListsInvalid(ConsentError):
    """Raised when the lists data file breaks its own rules."""


class LevelTooLow(ConsentError):
    """Raised when an agency below a list's lowest administrative level proposes a listing (LIST-6, LIST-12)."""

    def __init__(self, kind: str, level: str | None, minimum: str, reason: str) -> None:
        where = "an agency of unknown level" if level is None else f"a {level}-level agency"
        super().__init__(f"{where} may not propose a {kind} listing: it needs level {minimum} or above ({reason})")
        self.kind = kind
        self.level = level
        self.minimum = minimum


class Listed(ConsentError):
    """Raised when a red (commendation) listing is proposed for a person on the black list (LIST-10)."""


class ListingOpen(ConsentError):
    """Raised when the record already rests a listing of that kind that has not ended: one at a time."""


class ListingStepOutOfOrder(ConsentError):
    """Raised when a step is taken on a listing that is not waiting for it; `status` is where it stands."""

    def __init__(self, listing_id: str, status: str, why: str) -> None:
        super().__init__(f"listing {listing_id} is {status}: {why}")
        self.listing_id = listing_id
        self.status = status
        self.why = why


class DeclarationsInvalid(ConsentError):
    """Raised when the declarations data file breaks its own rules."""


class NotDeclarable(ConsentError):
    """Raised when a category is not open to voluntary registration; `open` names those that are."""

    def __init__(self, category: str, open_categories: Iterable[str]) -> None:
        self.category = category
        self.open = tuple(open_categories)
        super().__init__(f"{category} is not open to voluntary registration")


class DeclarationOpen(ConsentError):
    """Raised when the person already declared the same item and it still waits for verification."""


class DeclarationStepOutOfOrder(ConsentError):
    """Raised when a declaration is verified when it no longer waits; `status` is where it stands."""

    def __init__(self, declaration_id: str, status: str) -> None:
        super().__init__(f"declaration {declaration_id} is {status}")
        self.declaration_id = declaration_id
        self.status = status


class CommitmentsInvalid(ConsentError):
    """Raised when the commitments data file breaks its own rules."""


class CommitmentTemplateWithdrawn(ConsentError):
    """Raised when a breach is recorded on a commitment whose template is no longer in the commitments file: the
    breach record takes its scenario from the template, so none can be filed until the template is back."""

    def __init__(self, commitment_id: str, template: str) -> None:
        super().__init__(f"commitment {commitment_id} was made on template {template}, which is no longer published")
        self.commitment_id = commitment_id
        self.template = template


class CommitmentStepOutOfOrder(ConsentError):
    """Raised when an outcome is recorded on a commitment already closed; `status` is where it stands."""

    def __init__(self, commitment_id: str, status: str) -> None:
        super().__init__(f"commitment {commitment_id} is {status}")
        self.commitment_id = commitment_id
        self.status = status
