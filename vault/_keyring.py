"""The keyring: versioned key-encryption keys, the blind-index key, signing keys.

It lives in one JSON file, mode 0600, written atomically (temporary file, fsync, rename), so a
process killed while saving leaves either the old keyring or the new one, never half of each.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault.errors import KeyringError, UnknownKeyVersion

FORMAT = 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyringError(f"keyring: {what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise KeyringError(f"keyring: {what} is not valid base64") from exc


def _new_signing_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


@dataclass
class Keyring:
    """All secrets of one installation. Only the vault reads the key material."""

    keks: dict[int, bytes]
    current_kek: int
    blind_index_key: bytes
    session_secret: bytes
    signing_keys: dict[str, bytes] = field(default_factory=dict)
    current_signing: str = ""

    @classmethod
    def generate(cls) -> Keyring:
        """Return a fresh keyring with one key of each kind."""
        kid = f"sig-{secrets.token_hex(4)}"
        return cls(
            keks={1: secrets.token_bytes(32)},
            current_kek=1,
            blind_index_key=secrets.token_bytes(32),
            session_secret=secrets.token_bytes(32),
            signing_keys={kid: _new_signing_key()},
            current_signing=kid,
        )

    def kek(self, version: int) -> bytes:
        """Return the key-encryption key of `version`, or raise KeyringError."""
        try:
            return self.keks[version]
        except KeyError:
            raise UnknownKeyVersion(f"keyring has no key-encryption key version {version}") from None

    def add_kek(self) -> int:
        """Add a new key-encryption key version, make it current, and return its number."""
        version = max(self.keks) + 1
        self.keks[version] = secrets.token_bytes(32)
        self.current_kek = version
        return version

    def add_signing_key(self) -> str:
        """Add an Ed25519 signing key, make it current, and return its key id."""
        kid = f"sig-{secrets.token_hex(4)}"
        self.signing_keys[kid] = _new_signing_key()
        self.current_signing = kid
        return kid

    def replace_with(self, other: Keyring) -> None:
        """Take every key of `other` in place, so holders of this object see a rotation."""
        self.keks = dict(other.keks)
        self.current_kek = other.current_kek
        self.blind_index_key = other.blind_index_key
        self.session_secret = other.session_secret
        self.signing_keys = dict(other.signing_keys)
        self.current_signing = other.current_signing

    def to_document(self) -> dict[str, Any]:
        """Return the JSON document stored on disk."""
        return {
            "format": FORMAT,
            "kek": {"current": self.current_kek, "versions": {str(v): _b64(k) for v, k in self.keks.items()}},
            "blind_index_key": _b64(self.blind_index_key),
            "session_secret": _b64(self.session_secret),
            "signing": {
                "current": self.current_signing,
                "keys": {kid: _b64(k) for kid, k in self.signing_keys.items()},
            },
        }

    @classmethod
    def from_document(cls, doc: Any) -> Keyring:
        """Parse a keyring document, or raise KeyringError."""
        try:
            if doc["format"] != FORMAT:
                raise KeyringError(f"keyring format {doc['format']!r} is not supported")
            keks = {int(v): _unb64(k, f"kek {v}") for v, k in doc["kek"]["versions"].items()}
            current = int(doc["kek"]["current"])
            signing = {str(kid): _unb64(k, f"signing key {kid}") for kid, k in doc["signing"]["keys"].items()}
            ring = cls(
                keks=keks,
                current_kek=current,
                blind_index_key=_unb64(doc["blind_index_key"], "blind_index_key"),
                session_secret=_unb64(doc["session_secret"], "session_secret"),
                signing_keys=signing,
                current_signing=str(doc["signing"]["current"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KeyringError(f"keyring is malformed: {exc!r}") from exc
        if current not in keks or ring.current_signing not in signing:
            raise KeyringError("keyring names a current key it does not hold")
        if any(len(k) != 32 for k in [*keks.values(), ring.blind_index_key, ring.session_secret, *signing.values()]):
            raise KeyringError("keyring holds a key of the wrong length")
        return ring


def load_keyring(path: Path) -> Keyring:
    """Read the keyring at `path`, or raise KeyringError naming `xinyong init`."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KeyringError(f"no keyring at {path}: run `xinyong init` to create one") from None
    except OSError as exc:
        raise KeyringError(f"cannot read the keyring at {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyringError(f"the keyring at {path} is not JSON") from exc
    return Keyring.from_document(doc)


def save_keyring(ring: Keyring, path: Path) -> None:
    """Write the keyring atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(ring.to_document(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
