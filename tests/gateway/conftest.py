"""Fixtures of the CLI tests: `xinyong ARGS` on a fresh home with the default SQLite database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli import main

Invoke = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def xinyong(home: Path) -> Invoke:
    """Run `xinyong ARGS` with XINYONG_HOME at a fresh directory and the default SQLite database."""
    runner = CliRunner(env={"XINYONG_HOME": str(home), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None,
                            "XINYONG_ARGON2_TIME_COST": "1", "XINYONG_ARGON2_MEMORY_KIB": "1024",
                            "XINYONG_ENV": None})

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def initialised(xinyong: Invoke) -> Invoke:
    assert xinyong("init").exit_code == 0
    return xinyong


