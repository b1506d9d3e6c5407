"""The rules of staff accounts: the data in ``gateway/data/staff.json`` (roles, code lifetimes, TOTP settings)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

VIEW, ACT = "view", "act"
_CAPABILITIES = (VIEW, ACT)


@dataclass(frozen=True)
class StaffRole:
    """A role of a member of staff: what it may do in the portal, its label and why."""

    code: str
    may: frozenset[str]
    label: dict[str, str]
    reason: str


@dataclass(frozen=True)
class StaffRules:
    version: str
    roles: dict[str, StaffRole]
    default_role: str
    enrolment_code_valid: timedelta
    enrolment_step: timedelta
    second_factor: timedelta
    totp_digits: int
    totp_period: int
    totp_window: int


def load(text: str) -> StaffRules:
    """Return the rules of a staff.json document; raise ValueError naming what is wrong."""
    doc = json.loads(text)
    roles = {code: _role(code, item) for code, item in doc["roles"].items()}
    if doc["default_role"] not in roles:
        raise ValueError("default_role must be one of the roles")
    totp = doc["totp"]
    digits, period, window = totp["digits"], totp["period_seconds"], totp["valid_steps_either_side"]
    if digits not in (6, 8) or not 15 <= period <= 60 or not 0 <= window <= 2:
        raise ValueError("totp: digits 6 or 8, period_seconds 15 to 60, valid_steps_either_side 0 to 2")
    return StaffRules(
        version=str(doc["version"]), roles=roles, default_role=doc["default_role"],
        enrolment_code_valid=timedelta(hours=_positive(doc, "enrolment_code_valid_hours")),
        enrolment_step=timedelta(minutes=_positive(doc, "enrolment_step_minutes")),
        second_factor=timedelta(minutes=_positive(doc, "second_factor_minutes")),
        totp_digits=digits, totp_period=period, totp_window=window)


def _role(code: str, item: dict[str, Any]) -> StaffRole:
    may = frozenset(item["may"])
    if not may <= set(_CAPABILITIES) or VIEW not in may:
        raise ValueError(f"roles.{code}.may must hold 'view' and otherwise only {', '.join(_CAPABILITIES)}")
    if not str(item.get("reason", "")).strip():
        raise ValueError(f"roles.{code}.reason must say why")
    return StaffRole(code, may, dict(item["label"]), item["reason"])


def _positive(doc: dict[str, Any], key: str) -> int:
    value, reason = doc[key]["value"], str(doc[key].get("reason", ""))
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or not reason.strip():
        raise ValueError(f"{key} must be a whole number of at least 1, with its reason")
    return value


@cache
def shipped() -> StaffRules:
    """Return the rules shipped in ``gateway/data/staff.json``."""
    return load((resources.files("gateway") / "data" / "staff.json").read_text(encoding="utf-8"))
