"""failed client authentications, for rate limiting per client and per address

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('client_auth_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=40), nullable=True,
              comment="the registered client named; NULL when the name was nobody's (never stored as sent)"),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_auth_failures'))
    )
    op.create_index('ix_client_auth_failures_address_at', 'client_auth_failures', ['address', 'at'], unique=False)
    op.create_index('ix_client_auth_failures_client_id_at', 'client_auth_failures', ['client_id', 'at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_client_auth_failures_client_id_at', table_name='client_auth_failures')
    op.drop_index('ix_client_auth_failures_address_at', table_name='client_auth_failures')
    op.drop_table('client_auth_failures')
