"""Checking a report's signature as anyone holding it would: against the published keys, with a reason.

`/verify` (a page) and `POST /api/v1/verify` take a compact JWS that someone pasted or scanned and say
whether it is a report this service signed, unaltered, and what it says. They read nothing stored: the
holder already has the report, so verifying opens no door to anyone's data. The check uses the JWK Set
that `/.well-known/jwks.json` publishes, through joserfc, exactly as a third party would, never the
private keyring. Anything pasted gets an answer with a reason, never an error.

A printed report cannot carry its JWS in a QR code (a report of a few records is kilobytes), and a
verification link must not put personal data in a URL (proxies and access logs keep URLs). So the QR code
holds `{base}/verify?report=ID&sha256=DIGEST`: the page then asks for the JWS printed in the report's
appendix and checks that it is the one the paper names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from consent.reports import REPORT_TYPE, SELF_REPORT_TYPE

# A pasted JWS longer than this is refused unread: the largest real report (every record of a person with
# a long history) is far smaller, and parsing megabytes for an anonymous visitor costs the service.
MAX_JWS_CHARS = 200_000
KINDS = {REPORT_TYPE: "institution", SELF_REPORT_TYPE: "self"}

# Each reason in words, for the page and the API; the codes are stable, the words may improve.
REASONS: dict[str, dict[str, str]] = {
    "empty": {"zh": "没有粘贴任何内容。", "en": "Nothing was pasted."},
    "too_long": {"zh": "内容过长，不是本服务签发的报告。", "en": "Far too long to be a report this service signed."},
    "malformed": {"zh": "这不是一个签名报告（JWS 紧凑格式：三段以点分隔）。",
                  "en": "This is not a signed report (a compact JWS: three parts separated by dots)."},
    "unsupported_algorithm": {"zh": "签名算法不是本服务使用的 EdDSA。",
                              "en": "The signature algorithm is not EdDSA, the one this service uses."},
    "unknown_key": {"zh": "签名所用的密钥不在本服务公布的公钥中。",
                    "en": "It was signed with a key this service has not published."},
    "bad_signature": {"zh": "签名与内容不符：报告在签发后被改动过。",
                      "en": "The signature does not match the contents: the report was altered after it was signed."},
    "not_a_report": {"zh": "签名有效，但这不是信用报告（可能是授权凭证或树头）。",
                     "en": "The signature is valid, but this is not a credit report (a consent receipt or tree head, "
                           "perhaps)."},
    "digest_mismatch": {"zh": "签名有效，但这不是二维码所指的那份报告。",
                        "en": "The signature is valid, but this is not the report the QR code names."},
}


@dataclass(frozen=True)
class Verdict:
    """What a pasted JWS is: valid (with its claims) or not, with the reason's code."""

    valid: bool
    reason: str | None = None
    kind: str | None = None
    kid: str | None = None
    claims: dict[str, Any] | None = None

    def words(self, locale: str) -> str | None:
        """Return the reason in words, or None for a valid report."""
        return None if self.reason is None else REASONS[self.reason]["en" if locale == "en" else "zh"]


def digest(token: str) -> str:
    """Return the report's verification code: base64url SHA-256 of its JWS (what the QR code carries)."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def link(base_url: str, report_id: str, token: str) -> str:
    """Return the verification URL a printed report's QR code holds (no personal data in it)."""
    return f"{base_url.rstrip('/')}/verify?" + urlencode({"report": report_id, "sha256": digest(token)})


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _header(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header = json.loads(_unb64(parts[0]))
    except (ValueError, binascii.Error, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def _verified_claims(token: str, jwk: dict[str, Any]) -> Any:
    """Return the payload of `token` once its Ed25519 signature verifies under the published `jwk`.

    The key is read by joserfc; the signature is checked with `cryptography` directly, because joserfc's JWS
    layer warns on every use of "EdDSA" (deprecated by RFC 9864 for "Ed25519"), the name every signature
    this service has issued carries (RFC 8037).
    """
    key = OKPKey.import_key(jwk).public_key
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")
    header, payload, signature = token.split(".")
    key.verify(_unb64(signature), f"{header}.{payload}".encode())
    return json.loads(_unb64(payload))


def check(token: str, jwks: dict[str, Any], expected_digest: str | None = None) -> Verdict:
    """Return whether `token` is a report signed with a published key, unaltered, and what it claims."""
    token = "".join(token.split())  # a JWS copied from a printed page arrives wrapped over lines
    if not token:
        return Verdict(False, "empty")
    if len(token) > MAX_JWS_CHARS:
        return Verdict(False, "too_long")
    header = _header(token)
    if header is None:
        return Verdict(False, "malformed")
    if header.get("alg") != "EdDSA":
        return Verdict(False, "unsupported_algorithm")
    kid = header.get("kid")
    published = {k.get("kid"): k for k in jwks.get("keys", [])}
    if not isinstance(kid, str) or kid not in published:
        return Verdict(False, "unknown_key")
    try:
        claims = _verified_claims(token, published[kid])
    except (JoseError, InvalidSignature, ValueError, binascii.Error, RecursionError):
        return Verdict(False, "bad_signature", kid=kid)
    kind = KINDS.get(str(header.get("typ")))
    if kind is None or not isinstance(claims, dict) or not isinstance(claims.get("report_id"), str):
        return Verdict(False, "not_a_report", kid=kid)
    if expected_digest and expected_digest != digest(token):
        return Verdict(False, "digest_mismatch", kind=kind, kid=kid)
    return Verdict(True, kind=kind, kid=kid, claims=claims)
