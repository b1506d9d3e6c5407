"""The error table: one row for every error class, and domain errors that know nothing of HTTP."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from audit import errors as audit_errors
from consent import errors as consent_errors
from gateway import errors as gateway_errors
from gateway.web.problems import PROBLEMS
from vault import errors as vault_errors

GATEWAY = Path(gateway_errors.__file__).parent
ERROR_MODULES = [audit_errors, consent_errors, vault_errors, gateway_errors]


def _error_classes(module: ModuleType) -> list[type[Exception]]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, Exception) and c.__module__ == module.__name__]


@pytest.mark.parametrize("module", ERROR_MODULES, ids=lambda m: m.__name__)
def test_every_error_class_has_its_own_row_in_the_table(module: ModuleType) -> None:
    missing = [c.__name__ for c in _error_classes(module) if c not in PROBLEMS]
    assert not missing, f"add these to gateway/web/problems.py: {missing}"


def test_a_refused_query_is_answered_with_the_code_it_was_audited_with() -> None:
    for refused in _error_classes(consent_errors):
        if issubclass(refused, consent_errors.QueryRefused):
            assert PROBLEMS[refused].code == refused.code


@pytest.mark.parametrize("path", [GATEWAY / "errors.py", *sorted((GATEWAY / "usecases").glob("*.py"))],
                         ids=lambda p: p.name)
def test_the_gateway_errors_and_use_cases_import_no_web_framework(path: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"flask", "werkzeug", "flask_smorest", "flask_wtf", "authlib"}
