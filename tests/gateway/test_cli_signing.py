"""`xinyong keys rotate-signing`: a new signing key, old ones kept so old signatures still verify."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import main
from vault.vault import Vault


def _current_signing(keyring_path: Path) -> str:
    """Return the id of the signing key the keyring file names as current."""
    return str(json.loads(keyring_path.read_text())["signing"]["current"])


def test_rotating_the_signing_key_keeps_old_signatures_verifiable(tmp_path: Path) -> None:
    runner = CliRunner(env={"XINYONG_HOME": str(tmp_path), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None})
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    path = tmp_path / "keyring.json"
    old_kid = _current_signing(path)
    old = Vault.open(path).sign({"hello": "world"}, "test+jws")
    result = runner.invoke(main, ["keys", "rotate-signing", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    kid = json.loads(result.output)["kid"]
    after = Vault.open(path)
    assert _current_signing(path) == kid
    assert kid != old_kid
    assert after.verify(old) == {"hello": "world"}
    assert {k["kid"] for k in after.jwks()["keys"]} == {old_kid, kid}
    assert after.signing_kids == sorted([old_kid, kid])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
