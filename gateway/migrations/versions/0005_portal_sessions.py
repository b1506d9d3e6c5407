"""portal sessions kept server-side: logout ends them, and they have an absolute end

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('portal_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False, comment="SHA-256 of the cookie's token"),
    sa.Column('subject_ref', sa.String(length=64), nullable=False, comment='blind index of the person'),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('ends_at', audit.clock.UTCDateTime(), nullable=False,
              comment='absolute end, however active the session'),
    sa.Column('ended_at', audit.clock.UTCDateTime(), nullable=True, comment='when the person logged out'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_portal_sessions'))
    )
    op.create_index('ix_portal_sessions_subject_ref', 'portal_sessions', ['subject_ref'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_portal_sessions_subject_ref', table_name='portal_sessions')
    op.drop_table('portal_sessions')
