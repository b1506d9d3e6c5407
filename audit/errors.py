"""Errors raised by the audit log.

    AuditError
    ├── AuditAppendFailed    the entry could not be written: the access it records must not happen
    ├── TreeInconsistent     the entries cannot extend the Merkle tree: a hole or a renumbering
    └── TreeSizeOutOfRange   a root or proof asked of a tree larger than the integrated one, or a bad range
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class of every audit error."""


class AuditAppendFailed(AuditError):
    """Raised when an audit entry cannot be appended; callers must roll back the access."""


class TreeInconsistent(AuditError):
    """Raised when the entries cannot extend the tree: a hole or a renumbering after the integrated size."""


class TreeSizeOutOfRange(AuditError):
    """Raised when a root or proof is asked of a tree larger than the integrated one, or a bad range."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
