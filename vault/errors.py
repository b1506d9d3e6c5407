"""Errors raised by the vault.

    VaultError
    ├── InvalidCitizenId        a citizen ID fails a GB 11643 check (field, check)
    ├── RecordNotFound          no record with that id (or not the caller's)
    ├── RecordConflict          an idempotency key reused with a different request, or a state clash
    ├── ObjectionNotFound       no objection with that id (or not the caller's)
    ├── ListingNotFound         no listing with that id (or not the caller's)
    ├── RepairNotFound          no repair application with that id (or not the caller's)
    ├── DeclarationNotFound     no declaration with that id (or not the caller's)
    ├── CommitmentNotFound      no credit commitment with that id (or not the caller's)
    ├── SubjectNotFound         no subject for that blind index
    ├── SubjectShredded         the subject's data key was destroyed (crypto-shredding)
    ├── DecryptionFailed        a ciphertext does not authenticate (tampered, moved or wrong key)
    └── KeyringError            the keyring file is missing, unreadable or malformed
        └── UnknownKeyVersion   a data key is wrapped under a version this keyring does not hold (yet)
"""

from __future__ import annotations


class VaultError(Exception):
    """Base class of every vault error."""


class InvalidCitizenId(VaultError):
    """Raised when a citizen ID fails a check; `check` names which one."""

    def __init__(self, field: str, check: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.check = check
        self.message = message


class RecordNotFound(VaultError):
    """Raised when no record has that id, or it is not the caller's."""


class RecordConflict(VaultError):
    """Raised when a request conflicts with the stored state."""


class SubjectNotFound(VaultError):
    """Raised when no subject has that blind index."""


class SubjectShredded(VaultError):
    """Raised when the subject's data key has been destroyed."""


class DecryptionFailed(VaultError):
    """Raised when a ciphertext does not authenticate under its key and associated data."""


class KeyringError(VaultError):
    """Raised when the keyring is missing, unreadable or malformed."""


class UnknownKeyVersion(KeyringError):
    """Raised when a data key is wrapped under a key-encryption key version the keyring lacks."""


class ObjectionNotFound(VaultError):
    """Raised when no objection has that id for this caller (another agency's is not found either)."""


class RepairNotFound(VaultError):
    """Raised when no repair application has that id for this caller (another agency's is not found either)."""


class ListingNotFound(VaultError):
    """Raised when no listing has that id for this caller (another agency's or person's is not found either)."""
class DeclarationNotFound(VaultError):
    """Raised when no declaration has that id for this caller (one the agency may not verify is not found)."""


class CommitmentNotFound(VaultError):
    """Raised when no credit commitment has that id for this caller (another body's is not found either)."""
