"""Errors raised by the audit log.

    AuditError
    └── AuditAppendFailed   the entry could not be written: the access it records must not happen
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class of every audit error."""


class AuditAppendFailed(AuditError):
    """Raised when an audit entry cannot be appended; callers must roll back the access."""
