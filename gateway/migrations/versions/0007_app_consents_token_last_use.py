"""apps: a person's remembered consent to an app, and when an app token was last used

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('app_consents',
    sa.Column('subject_ref', sa.String(length=64), nullable=False, comment='blind index of the person'),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False,
              comment='the scopes the person allowed, space-separated'),
    sa.Column('granted_at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('subject_ref', 'client_id', name=op.f('pk_app_consents'))
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', audit.clock.UTCDateTime(), nullable=True,
                                      comment="an app token's last use on the API, to within a few minutes; "
                                              "shown to its person"))
        batch_op.create_index('ix_tokens_subject_ref', ['subject_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_tokens_subject_ref')
        batch_op.drop_column('last_used_at')
    op.drop_table('app_consents')
