"""JSON text from an encoder built once, for the per-record hot paths (an import's bodies, fingerprints and entries).

`json.dumps` and `JSONEncoder.encode` build a new C encoder on every call, to check that value for cycles:
on the small values of an audit entry that cost more than the encoding (json.dumps of a one-id list 7.7 us,
the same encoder kept 1.5 us; of an entry's detail 10.6 and 3.8 us, on a busy machine). The encoder
here is built once, without the cycle check, and writes the same text as JSONEncoder with the same options:
for the trees of dicts, lists and scalars the callers build themselves, where a cycle cannot occur.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import (  # type: ignore[attr-defined]  # c_make_encoder, the C accelerator: not in the stubs
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any


def _not_serialisable(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encoder(*, sort_keys: bool = False, compact: bool = False, ensure_ascii: bool = True) -> Callable[[Any], str]:
    """Return a function giving the text JSONEncoder(sort_keys, separators, ensure_ascii).encode gives, where
    `compact` means separators (",", ":") and otherwise json.dumps' default (", ", ": ")."""
    item, key = (",", ":") if compact else (", ", ": ")
    if c_make_encoder is None:  # an interpreter without the C accelerator: the plain encoder
        return json.JSONEncoder(sort_keys=sort_keys, separators=(item, key), ensure_ascii=ensure_ascii).encode
    chunks = c_make_encoder(None, _not_serialisable, encode_basestring_ascii if ensure_ascii else encode_basestring,
                            None, key, item, sort_keys, False, True)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode
