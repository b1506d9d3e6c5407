"""The shape of the code, kept by a test: imports point gateway → consent → vault → audit.

Read with `ast`, so a function-level import counts as much as one at the top. Also: only
`gateway/web/` touches the web libraries; nothing outside `vault/` reaches a private vault module
(its unit tests in tests/vault/ excepted); every audit entry is appended through `Tx`; and every
public `Vault` method that yields or stores plaintext is called in a test that counts its entries.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from vault.vault import Vault

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["audit", "vault", "consent", "gateway"]  # each may import only those before it (and itself)
WEB_LIBRARIES = {"flask", "werkzeug", "authlib", "flask_smorest", "flask_wtf", "marshmallow", "apispec",
                 "webargs", "jinja2"}


def _python_files(*tops: str) -> Iterator[Path]:
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_imports_point_from_gateway_to_consent_to_vault_to_audit() -> None:
    wrong = []
    for rank, layer in enumerate(LAYERS):
        allowed = set(LAYERS[: rank + 1])
        for path in _python_files(layer):
            for line, module in _imports(path):
                top = module.split(".")[0]
                if top in LAYERS and top not in allowed:
                    wrong.append(f"{_where(path, line)} imports {module}")
    assert wrong == []


def test_only_the_web_layer_imports_web_libraries() -> None:
    wrong = []
    for path in _python_files("audit", "vault", "consent", "gateway"):
        if (ROOT / "gateway" / "web") in path.parents:
            continue
        for line, module in _imports(path):
            if module.split(".")[0] in WEB_LIBRARIES or module.startswith("gateway.web"):
                wrong.append(f"{_where(path, line)} imports {module}")
    assert wrong == []


def _is_private_vault_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "vault" and len(parts) > 1 and parts[1].startswith("_")


def test_nothing_outside_the_vault_reaches_its_private_modules() -> None:
    own_tests = ROOT / "tests" / "vault"
    wrong = []
    for path in _python_files("audit", "consent", "gateway", "bench", "tests"):
        if own_tests in path.parents:
            continue  # the unit tests of the vault's own helpers
        for line, module in _imports(path):
            if _is_private_vault_module(module):
                wrong.append(f"{_where(path, line)} imports {module}")
    assert wrong == []


def test_the_vaults_helpers_are_private() -> None:
    public = {p.stem for p in (ROOT / "vault").glob("*.py") if not p.stem.startswith("_")}
    assert public == {"vault", "errors", "identity", "models", "types"}


def _entries_module_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "audit":
            names |= {a.asname or a.name for a in node.names if a.name == "entries"}
        elif isinstance(node, ast.Import):
            names |= {a.asname for a in node.names if a.name == "audit.entries" and a.asname}
    return names


def test_only_tx_appends_audit_entries() -> None:
    wrong = []
    for path in _python_files("audit", "vault", "consent", "gateway", "bench"):
        if path in (ROOT / "audit" / "tx.py", ROOT / "audit" / "entries.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = _entries_module_names(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in {"append", "append_many"}
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                wrong.append(f"{_where(path, node.lineno)} calls {node.value.id}.{node.attr}")
            if (isinstance(node, ast.ImportFrom) and node.module == "audit.entries"
                    and {a.name for a in node.names} & {"append", "append_many"}):
                wrong.append(f"{_where(path, node.lineno)} imports the entry append")
    assert wrong == []


# Every Vault method that returns or stores plaintext, and the test that counts the entries it writes.
PLAINTEXT_METHODS = {
    "enrol": "tests/vault/test_vault.py::test_enrolling_a_person_writes_one_entry",
    "ingest": "tests/vault/test_vault.py::test_ingesting_records_writes_an_entry_each",
    "revoke": "tests/vault/test_vault.py::test_revoking_a_record_writes_one_entry",
    "change_period": "tests/vault/test_vault.py::test_changing_a_records_period_writes_one_entry",
    "reapply_periods": "tests/vault/test_vault.py::test_reapplying_periods_writes_one_entry_per_record_changed",
    "read_own": "tests/vault/test_vault.py::test_reading_ones_own_file_writes_one_entry",
    "release": "tests/vault/test_vault.py::test_a_release_writes_one_entry",
    "open_report": "tests/vault/test_vault.py::test_opening_a_sealed_report_writes_one_entry",
    "shred": "tests/vault/test_vault.py::test_shredding_writes_one_entry",
    "correct": "tests/vault/test_objections_vault.py::"
               "test_correcting_a_record_writes_its_entries_and_keeps_the_old_one_revoked",
    "file_objection": "tests/vault/test_objections_vault.py::"
                      "test_filing_an_objection_writes_one_entry_and_seals_the_texts",
    "read_objections": "tests/vault/test_objections_vault.py::test_reading_ones_objections_writes_one_entry",
    "release_objection": "tests/vault/test_objections_vault.py::"
                         "test_releasing_an_objection_to_its_agency_writes_one_entry",
    "answer_objection": "tests/vault/test_objections_vault.py::"
                        "test_answering_an_objection_writes_one_entry_and_seals_the_words",
    "file_repair": "tests/vault/test_repairs_vault.py::test_filing_a_repair_writes_one_entry_and_seals_the_texts",
    "read_repairs": "tests/vault/test_repairs_vault.py::test_reading_ones_repairs_writes_one_entry",
    "release_repair": "tests/vault/test_repairs_vault.py::test_releasing_a_repair_to_its_agency_writes_one_entry",
    "decide_repair": "tests/vault/test_repairs_vault.py::"
                     "test_deciding_a_repair_writes_one_entry_seals_the_words_and_marks_the_record",
    "propose_listing": "tests/vault/test_listings_vault.py::"
                       "test_proposing_a_listing_writes_one_entry_and_seals_the_texts",
    "seal_listing_words": "tests/vault/test_listings_vault.py::"
                          "test_sealing_an_agencys_words_on_a_listing_writes_one_entry",
    "read_listings": "tests/vault/test_listings_vault.py::test_reading_ones_listings_writes_one_entry",
    "expire": "tests/vault/test_vault.py::test_expiring_writes_one_entry_per_record_made_a_tombstone",
    "erase_subject": "tests/vault/test_vault.py::test_erasing_a_person_writes_one_entry",
    "file_declaration": "tests/vault/test_declarations_vault.py::"
                        "test_filing_a_declaration_writes_one_entry_and_seals_the_payload",
    "read_declarations": "tests/vault/test_declarations_vault.py::test_reading_ones_declarations_writes_one_entry",
    "release_declaration": "tests/vault/test_declarations_vault.py::"
                           "test_releasing_a_declaration_to_a_competent_agency_writes_one_entry",
    "decide_declaration": "tests/vault/test_declarations_vault.py::"
                          "test_deciding_a_declaration_writes_its_record_and_one_entry_and_seals_the_words",
    "sign_commitment": "tests/vault/test_declarations_vault.py::"
                       "test_signing_a_commitment_writes_one_entry_and_seals_the_details",
    "read_commitments": "tests/vault/test_declarations_vault.py::test_reading_ones_commitments_writes_one_entry",
    "release_commitment": "tests/vault/test_declarations_vault.py::"
                          "test_releasing_a_commitment_to_its_body_writes_one_entry",
    "close_commitment": "tests/vault/test_declarations_vault.py::"
                        "test_closing_a_commitment_broken_writes_its_record_and_one_entry",
}


def test_every_public_vault_method_that_takes_a_tx_is_listed_with_its_counting_test() -> None:
    taking_tx = {name for name, member in inspect.getmembers(Vault, inspect.isfunction)
                 if not name.startswith("_") and "tx" in inspect.signature(member).parameters}
    # Re-wrapping, counting pending keys, reading a record's dates (to lock it for a change), reading the dates
    # an evaluation weighs and counting the records past retention touch no plaintext; everything else that
    # takes a Tx does (or destroys it).
    assert taking_tx - {"pending_rewrap", "rewrap", "period_state", "record_dates", "count_expired"} \
        == set(PLAINTEXT_METHODS)


@pytest.mark.parametrize("method", sorted(PLAINTEXT_METHODS))
def test_the_counting_test_of_each_plaintext_method_exists(method: str) -> None:
    file, name = PLAINTEXT_METHODS[method].split("::")
    source = (ROOT / file).read_text(encoding="utf-8")
    assert f"def {name}(" in source
    body = source.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]
    assert f".{method}(" in body, f"{name} does not call Vault.{method}"
    assert "entries_written" in body, f"{name} does not count the entries it writes"
