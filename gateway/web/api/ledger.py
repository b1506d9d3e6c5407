"""The audit log's Merkle tree: signed tree heads and RFC 9162 proofs, for auditors and for people.

An auditor (scope audit:read) may ask for any proof. A person (the portal session, or the app's token
with scope `me`) may fetch the heads and consistency proofs, and inclusion proofs of entries about
themselves; any other entry is a 404, as if it did not exist. Hashes are base64; heads verify against
/.well-known/jwks.json.

This module also keeps the heads coming: after a response has been sent, a process that has not made
a checkpoint for AUDIT_CHECKPOINT_SECONDS (10 by default) makes one, so a new head is signed at least
that often while entries arrive.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from marshmallow import RAISE, Schema, fields, validate

from gateway.errors import Forbidden, InsufficientScope
from gateway.runtime import Runtime
from gateway.usecases import ledger as use
from gateway.web.api.base import PERSON, XinyongBlueprint, person, problems
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.periodic import Periodic
from gateway.web.schemas import StrictSchema

log = logging.getLogger("xinyong.gateway.ledger")

blp = XinyongBlueprint("ledger", __name__, url_prefix="/api/v1",
                       description="Signed tree heads and Merkle proofs of the audit log (RFC 9162)")

CHECKPOINT_SECONDS = 10.0
_SIZE = validate.Range(min=0, max=2**63 - 1)
_B64 = {"description": "SHA-256 hash, base64", "format": "byte"}


class InclusionQueryIn(StrictSchema):
    index = fields.Integer(required=True, validate=_SIZE,
                           metadata={"description": "leaf index: the entry's seq - 1"})
    tree_size = fields.Integer(validate=_SIZE, metadata={
        "description": "size of the tree to prove against, at most the latest signed head's (the default)"})


class ConsistencyQueryIn(StrictSchema):
    first = fields.Integer(required=True, validate=_SIZE, metadata={"description": "the older tree's size, from 1"})
    second = fields.Integer(validate=_SIZE, metadata={
        "description": "the newer tree's size, at most the latest signed head's (the default)"})


class TreeHeadOut(Schema):
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True, metadata=_B64)
    timestamp = fields.String(required=True, metadata={"format": "date-time"})
    jws = fields.String(required=True, metadata={
        "description": "compact JWS (EdDSA, typ xinyong-tree-head+jws) over {tree_size, root_hash, timestamp}"})


class InclusionProofOut(Schema):
    index = fields.Integer(required=True)
    tree_size = fields.Integer(required=True)
    leaf_hash = fields.String(required=True, metadata=_B64)
    audit_path = fields.List(fields.String(metadata=_B64), required=True,
                             metadata={"description": "RFC 9162 §2.1.3 inclusion proof, leaf end first"})


class ConsistencyProofOut(Schema):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    consistency_path = fields.List(fields.String(metadata=_B64), required=True,
                                   metadata={"description": "RFC 9162 §2.1.4 consistency proof"})


def _reader() -> str | None:
    """Return None for an auditor, or the blind index of a person; raise 401 or 403 for anyone else."""
    if request.headers.get("Authorization"):
        try:
            bearer("audit:read", ("auditor",))
            return None
        except Forbidden:
            pass
        try:
            return person()
        except Forbidden:
            raise InsufficientScope("proofs are for auditors (scope audit:read) and for people (scope me)") from None
    return person()


@blp.route("/audit/tree-head", methods=["GET"])
@blp.response(200, TreeHeadOut, description="The latest signed tree head")
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def tree_head() -> Response:
    """Return the latest signed tree head; verify its JWS with /.well-known/jwks.json."""
    _reader()
    return jsonify(use.latest_head(runtime().uow).as_dict())


@blp.route("/audit/proof/inclusion", methods=["GET"])
@blp.arguments(InclusionQueryIn, location="query", unknown=RAISE)
@blp.response(200, InclusionProofOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 422)
def inclusion_proof(args: dict[str, Any]) -> Response:
    """Return the proof that entry index + 1 is leaf `index` of the tree of tree_size leaves.

    People may ask only about entries about themselves.
    """
    subject_ref = _reader()
    proof = use.inclusion(runtime().uow, args["index"], args.get("tree_size"), subject_ref)
    return jsonify(proof.as_dict())


@blp.route("/audit/proof/consistency", methods=["GET"])
@blp.arguments(ConsistencyQueryIn, location="query", unknown=RAISE)
@blp.response(200, ConsistencyProofOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 422)
def consistency_proof(args: dict[str, Any]) -> Response:
    """Return the proof that the tree of `first` leaves is a prefix of the tree of `second` leaves."""
    _reader()
    proof = use.consistency(runtime().uow, args["first"], args.get("second"))
    return jsonify(proof.as_dict())


# --- checkpoints after responses ----------------------------------------------------------------


def init_app(app: Flask, rt: Runtime) -> None:
    """Make a checkpoint after a response has gone out, when one is due (a head at least every 10 s)."""
    every = float(app.config.get("AUDIT_CHECKPOINT_SECONDS", CHECKPOINT_SECONDS))
    checkpointer = Periodic("audit checkpoint", every, lambda: use.checkpoint(rt))
    app.extensions["xinyong.checkpointer"] = checkpointer
    checkpointer.install(app)
