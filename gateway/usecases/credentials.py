"""One-time codes and the password check that people and staff share.

A code is read aloud at a service counter or typed from a letter, so its alphabet leaves out look-alikes.
A check takes one argon2 verification whatever is stored, so the time of an answer does not tell whether
an ID or a member of staff is known.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Crockford-style alphabet without look-alikes: read aloud at a service counter.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def one_time_code() -> str:
    """Return a fresh code of three groups of four, e.g. "K7QF-2MXA-9RTD"."""
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(3))


def verify(hasher: PasswordHasher, stored: str | None, given: str) -> bool:
    """Return whether `given` matches the stored hash; with none stored, hash anyway against a stand-in.

    An unknown ID, an account never activated and a wrong password then all take one argon2 verification,
    so the time of the answer does not tell whether the ID is known.
    """
    try:
        return bool(hasher.verify(stored or _stand_in(hasher), given)) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


_STAND_INS: dict[tuple[int, int, int], str] = {}


def _stand_in(hasher: PasswordHasher) -> str:
    """Return a hash of a random secret made with the hasher's own costs, made once per process."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _STAND_INS:
        _STAND_INS[key] = hasher.hash(secrets.token_urlsafe(32))
    return _STAND_INS[key]
