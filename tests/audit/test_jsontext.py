"""An encoder built once writes the text json.dumps writes with the same options."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit import jsontext

VALUES: list[Any] = [
    {"b": 1, "a": [1, 2.5, -0.0, 1e300, True, False, None], "c": {"z": "", "y": "引号\"和\\反斜杠"}},
    ["rec_0123456789abcdef01234567"],
    {"category": "TAX_ARREARS", "publication_due": "2026-01-01", "filed_late": False},
    "控制\x00\x1f\u2028\ud7ff字符",
    {"nested": [{"deep": [[], {}]}], "emoji": "😀", "tab": "\t", 3: "int key"},
    12345678901234567890,
    [float("nan"), float("inf"), -float("inf")],
    None,
]


@pytest.mark.parametrize("sort_keys", [False, True])
@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_it_writes_what_json_dumps_writes(sort_keys: bool, compact: bool, ensure_ascii: bool) -> None:
    encode = jsontext.encoder(sort_keys=sort_keys, compact=compact, ensure_ascii=ensure_ascii)
    separators = (",", ":") if compact else (", ", ": ")
    for value in VALUES:
        if sort_keys and isinstance(value, dict) and 3 in value:
            continue  # keys of two types cannot be sorted, by either
        assert encode(value) == json.dumps(value, sort_keys=sort_keys, separators=separators,
                                           ensure_ascii=ensure_ascii)


def test_it_refuses_what_json_dumps_refuses() -> None:
    encode = jsontext.encoder()
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode({"when": object()})
