"""Envelope encryption: a data key per person, wrapped under a versioned key-encryption key.

Every ciphertext is AES-256-GCM with associated data that names what it belongs to (the record
id, the person's blind index, the category), so a ciphertext copied into another row fails to
authenticate instead of decrypting as somebody else's record.
"""

from __future__ import annotations

import hmac
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault._keyring import Keyring
from vault.errors import DecryptionFailed

NONCE = 12


def new_data_key() -> bytes:
    """Return a random 256-bit data key."""
    return secrets.token_bytes(32)


def seal(key: bytes | AESGCM, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> bytes:
    """Return nonce || AES-256-GCM(key, plaintext, aad); `key` may be given as its cipher.

    `nonce`: one of `nonces` (a batch's, drawn at once), used for this one seal; a new random one if omitted.
    """
    if nonce is None:
        nonce = secrets.token_bytes(NONCE)
    return nonce + (key if isinstance(key, AESGCM) else AESGCM(key)).encrypt(nonce, plaintext, aad)


def nonces(count: int) -> list[bytes]:
    """Return `count` random nonces for `seal`, from one read of the system's random source (an import seals 500
    records a batch, and a read for each cost more than the encryption)."""
    pool = secrets.token_bytes(NONCE * count)
    return [pool[i:i + NONCE] for i in range(0, NONCE * count, NONCE)]


def unseal(key: bytes | AESGCM, blob: bytes, aad: bytes, what: str) -> bytes:
    """Return the plaintext of `blob`, or raise DecryptionFailed naming `what`; `key` may be given as its cipher."""
    try:
        return (key if isinstance(key, AESGCM) else AESGCM(key)).decrypt(blob[:NONCE], blob[NONCE:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed(f"{what} does not authenticate") from exc


def _dek_aad(subject_ref: str, version: int) -> bytes:
    return f"xinyong:dek:v1|{subject_ref}|{version}".encode()


def wrap_data_key(ring: Keyring, dek: bytes, subject_ref: str) -> tuple[int, bytes]:
    """Return (kek version, wrapped key) under the current key-encryption key."""
    version = ring.current_kek
    return version, seal(_kek_cipher(ring.kek(version)), dek, _dek_aad(subject_ref, version))


def unwrap_data_key(ring: Keyring, version: int, wrapped: bytes, subject_ref: str) -> bytes:
    """Return the data key, or raise DecryptionFailed / KeyringError."""
    return unseal(_kek_cipher(ring.kek(version)), wrapped, _dek_aad(subject_ref, version), "data key")


# Each key-encryption key's cipher, made once: an import unwraps a data key for each person of a batch, and
# making the cipher cost more than the decryption (an unwrap took 2.9 us with a new cipher, 1.6 with this one,
# on a busy machine). Keyed by the key itself, so that a rotated or replaced keyring gets its own; a few
# versions at most (old ones stay in the keyring too).
@lru_cache(maxsize=16)
def _kek_cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def record_aad(record_id: str, subject_ref: str, category: str) -> bytes:
    """Return the associated data that binds a record ciphertext to its row."""
    return f"xinyong:record:v1|{record_id}|{subject_ref}|{category}".encode()


def subject_aad(subject_ref: str, attribute: str) -> bytes:
    """Return the associated data that binds a subject attribute ciphertext to its person."""
    return f"xinyong:subject:v1|{subject_ref}|{attribute}".encode()


def blind_index(ring: Keyring, citizen_id: str) -> str:
    """Return HMAC-SHA256(blind-index key, canonical ID) as hex: the lookup key of a person."""
    # hmac.digest: the one-shot C function, a few times faster than building an HMAC object (same value).
    return hmac.digest(ring.blind_index_key, b"xinyong:bi:v1|" + citizen_id.encode(), "sha256").hex()


def keyed_fingerprint(ring: Keyring, data: bytes) -> str:
    """Return a keyed hash of `data`, safe to store where a plain hash could be brute-forced."""
    return hmac.digest(ring.blind_index_key, b"xinyong:fp:v1|" + data, "sha256").hex()


def report_aad(subject_ref: str, report_id: str) -> bytes:
    """Return the associated data that binds a sealed report to its person and id."""
    return f"xinyong:report:v1|{report_id}|{subject_ref}".encode()


def _credential_aad(owner: str, what: str, version: int) -> bytes:
    return f"xinyong:credential:v1|{what}|{owner}|{version}".encode()


def seal_credential(ring: Keyring, secret: bytes, owner: str, what: str) -> tuple[int, bytes]:
    """Return (kek version, ciphertext) of a login secret sealed straight under the current key-encryption key,
    bound to its owner and kind (a copy moved to another row does not authenticate)."""
    version = ring.current_kek
    return version, seal(ring.kek(version), secret, _credential_aad(owner, what, version))


def open_credential(ring: Keyring, version: int, sealed: bytes, owner: str, what: str) -> bytes:
    """Return a sealed login secret, or raise DecryptionFailed / KeyringError."""
    return unseal(ring.kek(version), sealed, _credential_aad(owner, what, version), what)
