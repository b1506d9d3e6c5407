"""audit tree: nodes, state, signed heads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:26:13.248274
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_tree_heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False, comment='heads only ever grow: one per size'),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('timestamp', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False, comment='EdDSA JWS over {tree_size, root_hash, timestamp}'),
    sa.CheckConstraint('tree_size >= 0', name=op.f('ck_audit_tree_heads_tree_size_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_tree_heads')),
    sa.UniqueConstraint('tree_size', name=op.f('uq_audit_tree_heads_tree_size'))
    )
    op.create_table('audit_tree_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False, comment='hash of the 2**level leaves from leaf index * 2**level; written once'),
    sa.CheckConstraint('"index" >= 0', name=op.f('ck_audit_tree_nodes_index_non_negative')),
    sa.CheckConstraint('level >= 0 AND level < 64', name=op.f('ck_audit_tree_nodes_level_range')),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_audit_tree_nodes'))
    )
    op.create_table('audit_tree_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False, comment='entries 1..size are leaves of the tree'),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_tree_state_single_row')),
    sa.CheckConstraint('size >= 0', name=op.f('ck_audit_tree_state_size_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_tree_state'))
    )
    op.execute("INSERT INTO audit_tree_state (id, size) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table('audit_tree_state')
    op.drop_table('audit_tree_nodes')
    op.drop_table('audit_tree_heads')
