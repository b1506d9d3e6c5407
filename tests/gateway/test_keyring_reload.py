"""A running service sees a key rotation made by the CLI, so re-wrapped data keys stay readable."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import main
from gateway.config import from_environ
from gateway.runtime import build_runtime
from vault.keyring import load_keyring, save_keyring


def test_the_runtime_reloads_the_keyring_after_a_rotation(tmp_path: Path) -> None:
    env = {"XINYONG_HOME": str(tmp_path), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None}
    assert CliRunner(env=env).invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    rt = build_runtime(from_environ({"XINYONG_HOME": str(tmp_path)}))
    held = rt.keyring
    assert held.current_kek == 1
    _rotate(rt.settings.keyring_path)
    rt.refresh_keyring()
    assert held is rt.keyring
    assert held.current_kek == 2
    _rotate(rt.settings.keyring_path)
    rt.refresh_keyring()
    assert held.current_kek == 2, "checked again at once: the check is meant to be throttled"
    rt.keyring_checked = 0.0
    rt.refresh_keyring()
    assert held.current_kek == 3
    assert set(held.keks) == {1, 2, 3}
    rt.engine.dispose()


def _rotate(path: Path) -> None:
    ring = load_keyring(path)
    ring.add_kek()
    save_keyring(ring, path)
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))  # coarse file clocks: make the change visible
