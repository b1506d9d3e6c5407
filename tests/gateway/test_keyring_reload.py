"""A running service sees a key rotation made by the CLI, so re-wrapped data keys stay readable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from gateway.cli import main
from gateway.config import from_environ
from gateway.runtime import Runtime, build_runtime
from tests.conftest import People
from vault import vault as vault_module
from vault.models import Subject
from vault.vault import Vault

OPERATOR = AccessContext(actor="operator", role="operator")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Runtime]:
    """The runtime of a running service on an initialised home, its vault opened before any rotation."""
    env = {"XINYONG_HOME": str(tmp_path), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None}
    assert CliRunner(env=env).invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    rt = build_runtime(from_environ({"XINYONG_HOME": str(tmp_path)}))
    yield rt
    rt.engine.dispose()


def _enrol(rt: Runtime, citizen_id: str) -> str:
    with rt.uow.begin(OPERATOR) as tx:
        return rt.vault.enrol(tx, citizen_id, "张三", basis="in-person identity check")


def _citizen_id(rt: Runtime, ref: str) -> str:
    with rt.uow.begin(AccessContext(actor=ref, role="person")) as tx:
        return rt.vault.read_own(tx, ref).identity.citizen_id


def _kek_versions(rt: Runtime) -> list[int | None]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(Subject.kek_version).order_by(Subject.id)).scalars())


def _rotate(path: Path) -> int:
    """Rotate as `xinyong keys rotate` does in another process: a vault of its own adds a KEK to the file."""
    version = Vault.open(path).add_kek()
    _touched(path)
    return version


def _touched(path: Path) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))  # coarse file clocks: make the change visible


def test_the_runtime_reloads_the_keyring_after_a_rotation(service: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    people = People()
    alice = people.new()
    alice_ref = _enrol(service, alice)
    held = service.vault
    assert held.current_kek == 1
    assert _rotate(service.settings.keyring_path) == 2
    held.refresh(force=True)
    assert held.current_kek == 2
    assert _rotate(service.settings.keyring_path) == 3
    held.refresh()
    assert held.current_kek == 2, "checked again at once: the check is meant to be throttled"
    monkeypatch.setattr(vault_module, "KEYRING_CHECK_SECONDS", 0.0)  # as if the interval had passed
    held.refresh()
    assert held.current_kek == 3
    # Every version stays loaded: a person wrapped under the first reads, a new one is wrapped under the third.
    bob = people.new()
    bob_ref = _enrol(service, bob)
    assert _kek_versions(service) == [1, 3]
    assert (_citizen_id(service, alice_ref), _citizen_id(service, bob_ref)) == (alice, bob)


def test_a_vault_meeting_a_data_key_under_a_version_it_has_not_loaded_reloads_the_keyring_at_once(
    service: Runtime
) -> None:
    alice = People().new()
    ref = _enrol(service, alice)
    rotating = Vault.open(service.settings.keyring_path)  # `xinyong keys rotate`, in another process
    assert rotating.add_kek() == 2
    _touched(service.settings.keyring_path)
    with service.uow.begin(OPERATOR) as tx:
        assert rotating.rewrap(tx, 100) == 1
    assert _kek_versions(service) == [2]
    assert service.vault.current_kek == 1  # the service has not looked at the file since
    assert _citizen_id(service, ref) == alice
    assert service.vault.current_kek == 2
    with service.sessions() as session, session.begin():
        reads = session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == str(Tag.REPORT_SELF))
        ).scalar_one()
    assert reads == 1, "the retry after the reload records the read once"
