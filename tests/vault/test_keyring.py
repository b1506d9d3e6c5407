"""The keyring file: round trip, mode 0600, atomic saves, and clear refusals of bad files."""

from __future__ import annotations

import base64
import copy
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vault import _keyring as keyring_module
from vault._keyring import Keyring, load_keyring, save_keyring
from vault.errors import KeyringError, UnknownKeyVersion


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "keyring.json")


def test_a_saved_keyring_loads_back_identical(tmp_path: Path) -> None:
    ring = Keyring.generate()
    ring.add_kek()
    ring.add_signing_key()
    path = tmp_path / "keyring.json"
    save_keyring(ring, path)
    assert load_keyring(path) == ring


def test_a_generated_keyring_holds_one_fresh_key_of_each_kind() -> None:
    ring, other = Keyring.generate(), Keyring.generate()
    assert ring.current_kek == 1
    assert list(ring.keks) == [1]
    assert ring.current_signing in ring.signing_keys
    assert all(len(k) == 32 for k in [ring.kek(1), ring.blind_index_key, ring.session_secret,
                                      *ring.signing_keys.values()])
    assert ring.kek(1) != other.kek(1)
    assert ring.blind_index_key != other.blind_index_key


def test_a_new_kek_version_becomes_current_and_the_old_one_stays() -> None:
    ring = Keyring.generate()
    first = ring.kek(1)
    assert ring.add_kek() == 2
    assert ring.current_kek == 2
    assert ring.kek(1) == first
    assert ring.kek(2) != first


def test_a_missing_kek_version_raises_keyring_error() -> None:
    with pytest.raises(KeyringError, match="version 9") as caught:
        Keyring.generate().kek(9)
    assert isinstance(caught.value, UnknownKeyVersion)


def test_the_keyring_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(Keyring.generate(), path)
    assert _mode(path) == 0o600


def test_saving_over_a_wider_file_leaves_it_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_keyring(Keyring.generate(), path)
    assert _mode(path) == 0o600


def test_saving_creates_the_home_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "home" / "keyring.json"
    save_keyring(Keyring.generate(), path)
    assert load_keyring(path).current_kek == 1


def test_loading_a_missing_keyring_says_to_run_xinyong_init(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="`xinyong init`"):
        load_keyring(tmp_path / "keyring.json")


def test_loading_a_keyring_that_is_not_json_raises_keyring_error(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text('{"format": 1, ')
    with pytest.raises(KeyringError, match="not JSON"):
        load_keyring(path)


def test_loading_a_directory_raises_keyring_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError):
        load_keyring(tmp_path)


Breaker = Callable[[dict[str, Any]], Any]


def _set(path: tuple[str, ...], value: Any) -> Breaker:
    def breaker(doc: dict[str, Any]) -> Any:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return doc

    return breaker


def _drop(key: str) -> Breaker:
    def breaker(doc: dict[str, Any]) -> Any:
        del doc[key]
        return doc

    return breaker


SHORT = base64.b64encode(bytes(16)).decode()

MALFORMED: dict[str, Breaker] = {
    "a list instead of an object": lambda doc: [doc],
    "a string": lambda doc: "keyring",
    "null": lambda doc: None,
    "an unknown format": _set(("format",), 2),
    "no format": _drop("format"),
    "no kek section": _drop("kek"),
    "no blind index key": _drop("blind_index_key"),
    "no session secret": _drop("session_secret"),
    "no signing section": _drop("signing"),
    "kek versions as a list": _set(("kek", "versions"), ["AAAA"]),
    "a kek version that is not a number": lambda doc: _set(("kek", "versions"), {"one": doc["kek"]["versions"]["1"]})(
        doc
    ),
    "a current kek that is not held": _set(("kek", "current"), 5),
    "a current kek that is not a number": _set(("kek", "current"), "latest"),
    "a kek that is not base64": _set(("kek", "versions", "1"), "not base64!"),
    "a kek that is a number": _set(("kek", "versions", "1"), 12345),
    "a kek of the wrong length": _set(("kek", "versions", "1"), SHORT),
    "a blind index key of the wrong length": _set(("blind_index_key",), SHORT),
    "a session secret of the wrong length": _set(("session_secret",), SHORT),
    "an empty session secret": _set(("session_secret",), ""),
    "a signing key of the wrong length": lambda doc: _set(("signing", "keys", doc["signing"]["current"]), SHORT)(doc),
    "a current signing key that is not held": _set(("signing", "current"), "sig-missing"),
}


@pytest.mark.parametrize("breaker", MALFORMED.values(), ids=list(MALFORMED))
def test_a_malformed_keyring_document_raises_keyring_error(breaker: Breaker) -> None:
    doc = breaker(copy.deepcopy(Keyring.generate().to_document()))
    with pytest.raises(KeyringError):
        Keyring.from_document(doc)


@pytest.mark.parametrize("breaker", list(MALFORMED.values())[:6], ids=list(MALFORMED)[:6])
def test_loading_a_malformed_keyring_file_raises_keyring_error(tmp_path: Path, breaker: Breaker) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(breaker(Keyring.generate().to_document())))
    with pytest.raises(KeyringError):
        load_keyring(path)


def test_saving_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(Keyring.generate(), path)
    save_keyring(Keyring.generate(), path)
    assert _leftovers(tmp_path) == []


def test_a_save_that_fails_before_the_rename_keeps_the_old_keyring_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keyring.json"
    old = Keyring.generate()
    save_keyring(old, path)

    def killed(src: Any, dst: Any) -> None:
        raise OSError("killed before rename")

    monkeypatch.setattr(keyring_module.os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        save_keyring(Keyring.generate(), path)
    assert load_keyring(path) == old
    assert _leftovers(tmp_path) == []


def test_a_save_that_fails_while_writing_keeps_the_old_keyring_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keyring.json"
    old = Keyring.generate()
    save_keyring(old, path)

    def disk_full(fd: int) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(keyring_module.os, "fsync", disk_full)
    with pytest.raises(OSError, match="no space"):
        save_keyring(Keyring.generate(), path)
    assert load_keyring(path) == old
    assert _leftovers(tmp_path) == []


def test_the_new_keyring_replaces_the_file_in_one_rename_of_a_fully_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keyring.json"
    new = Keyring.generate()
    renamed: list[Keyring] = []
    real_replace = os.replace

    def checking_replace(src: Any, dst: Any) -> None:
        # At the moment of the rename the source is complete, private, and next to the target.
        source = Path(src)
        assert source.parent == path.parent
        assert _mode(source) == 0o600
        renamed.append(load_keyring(source))
        real_replace(src, dst)

    monkeypatch.setattr(keyring_module.os, "replace", checking_replace)
    save_keyring(new, path)
    assert renamed == [new]
    assert load_keyring(path) == new
