"""a person's freeze of their own file, and requests withheld while frozen

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-27 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0013'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('freezes',
    sa.Column('subject_ref', sa.String(length=64), nullable=False, comment='blind index'),
    sa.Column('frozen_at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('subject_ref', name=op.f('pk_freezes'))
    )
    with op.batch_alter_table('consent_requests') as batch:
        batch.add_column(sa.Column('withheld', sa.Boolean(), server_default=sa.false(), nullable=False,
                                   comment="made while the person's file was frozen: never shown to them, "
                                           "lapses unanswered"))


def downgrade() -> None:
    with op.batch_alter_table('consent_requests') as batch:
        batch.drop_column('withheld')
    op.drop_table('freezes')
