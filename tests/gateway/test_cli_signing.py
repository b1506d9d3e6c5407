"""`xinyong keys rotate-signing`: a new signing key, old ones kept so old signatures still verify."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import main
from vault import signing
from vault.keyring import load_keyring


def test_rotating_the_signing_key_keeps_old_signatures_verifiable(tmp_path: Path) -> None:
    runner = CliRunner(env={"XINYONG_HOME": str(tmp_path), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None})
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    before = load_keyring(tmp_path / "keyring.json")
    old = signing.sign(before, {"hello": "world"}, "test+jws")
    result = runner.invoke(main, ["keys", "rotate-signing", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    kid = json.loads(result.output)["kid"]
    after = load_keyring(tmp_path / "keyring.json")
    assert after.current_signing == kid
    assert kid != before.current_signing
    assert signing.verify(after, old) == {"hello": "world"}
    assert {k["kid"] for k in signing.public_jwks(after)["keys"]} == {before.current_signing, kid}
    assert stat.S_IMODE((tmp_path / "keyring.json").stat().st_mode) == 0o600
