"""`xinyong serve`: refuses without init, runs gunicorn on the app factory, logs paths without query strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway import cli


def _runner(home: Path, **env: str | None) -> CliRunner:
    return CliRunner(env={"XINYONG_HOME": str(home), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None,
                          "XINYONG_ENV": None, "XINYONG_PUBLIC_URL": "https://credit.example.gov.cn", **env})


def test_serve_without_init_names_xinyong_init(tmp_path: Path) -> None:
    result = _runner(tmp_path).invoke(cli.main, ["serve"])
    assert result.exit_code != 0
    assert "xinyong init" in result.output


def test_serve_execs_gunicorn_with_a_log_format_that_omits_query_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _runner(tmp_path)
    assert runner.invoke(cli.main, ["init"], catch_exceptions=False).exit_code == 0
    seen: dict[str, Any] = {}

    def fake_execv(path: str, args: list[str]) -> None:
        seen["path"], seen["args"] = path, args

    monkeypatch.setattr(cli.os, "execv", fake_execv)
    result = runner.invoke(cli.main, ["serve", "--port", "8123", "--workers", "3"], catch_exceptions=False)
    assert result.exit_code == 0
    args = seen["args"]
    assert Path(seen["path"]).name == "gunicorn"
    assert args[args.index("--bind") + 1] == "127.0.0.1:8123"
    assert args[args.index("--workers") + 1] == "3"
    assert args[-1] == "gateway.web.app:create_app()"
    assert args[args.index("--forwarded-allow-ips") + 1] == ""  # only XINYONG_TRUSTED_PROXIES decides
    log_format = args[args.index("--access-logformat") + 1]
    assert "%(U)s" in log_format
    assert "%(r)s" not in log_format
    assert "%(q)s" not in log_format


@pytest.mark.parametrize(("env", "starts"), [
    ({"XINYONG_PUBLIC_URL": None}, False),
    ({"XINYONG_PUBLIC_URL": None, "XINYONG_ENV": "development"}, True),
    ({}, True),
])
def test_serve_in_production_needs_the_public_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  env: dict[str, str | None], starts: bool) -> None:
    runner = _runner(tmp_path, **env)
    assert runner.invoke(cli.main, ["init"], catch_exceptions=False).exit_code == 0
    monkeypatch.setattr(cli.os, "execv", lambda *_: None)
    result = runner.invoke(cli.main, ["serve"])
    assert (result.exit_code == 0) is starts
    if not starts:
        assert "XINYONG_PUBLIC_URL" in result.output
