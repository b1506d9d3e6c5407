"""Signatures: compact JWS with EdDSA (Ed25519) over canonical JSON, keys published as a JWKS.

Old keys stay in the keyring after `xinyong keys rotate-signing`, so every signature ever made
stays verifiable against /.well-known/jwks.json.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.entries import canonical_json
from vault._keyring import Keyring
from vault.errors import DecryptionFailed


def b64url(raw: bytes) -> str:
    """Return unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=16)
def _private_key(raw: bytes) -> Ed25519PrivateKey:
    # Parsed once per key: every report, receipt and tree head is signed on a hot path.
    return Ed25519PrivateKey.from_private_bytes(raw)


@lru_cache(maxsize=16)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return _private_key(raw).public_key()


def sign(ring: Keyring, claims: dict[str, Any], typ: str) -> str:
    """Return a compact JWS over the canonical JSON of `claims`, signed with the current key."""
    kid = ring.current_signing
    header = {"alg": "EdDSA", "kid": kid, "typ": typ}
    signing_input = f"{b64url(canonical_json(header))}.{b64url(canonical_json(claims))}"
    key = _private_key(ring.signing_keys[kid])
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def verify(ring: Keyring, token: str) -> dict[str, Any]:
    """Return the claims of a JWS signed by any key of the ring, or raise DecryptionFailed."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64url(header_b64))
        private = ring.signing_keys[header["kid"]]
        if header.get("alg") != "EdDSA":
            raise ValueError("alg")
        _public_key(private).verify(
            _unb64url(signature_b64), f"{header_b64}.{payload_b64}".encode()
        )
        claims: dict[str, Any] = json.loads(_unb64url(payload_b64))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise DecryptionFailed("signature does not verify") from exc
    return claims


def public_jwks(ring: Keyring) -> dict[str, Any]:
    """Return the JWK Set of every signing key's public half."""
    keys = []
    for kid, private in ring.signing_keys.items():
        public = Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        keys.append({"kty": "OKP", "crv": "Ed25519", "x": b64url(public), "kid": kid, "use": "sig", "alg": "EdDSA"})
    return {"keys": keys}
