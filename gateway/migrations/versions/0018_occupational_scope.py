"""the occupational group a consent request and its grant are limited to (职业信用报告)

Revision ID: 0018
Revises: 0014
Create Date: 2026-11-27 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = "the one occupational group (catalogue code) the report is limited to; NULL: not limited"


def upgrade() -> None:
    for table in ('consent_requests', 'grants'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('occupational_group', sa.String(length=20), nullable=True, comment=COMMENT))


def downgrade() -> None:
    for table in ('grants', 'consent_requests'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('occupational_group')
