"""providers file as an agency role at an administrative level (谁主管、谁认定、谁负责); existing ones migrated

Revision ID: 0008
Revises: 0009
Create Date: 2026-11-27 12:30:00

Each provider registered before roles gets the role that keeps what it files today, told from its registered
categories by the catalogue in force (`Catalogue.derive_agency`): the generic "any competent authority" where
that covers them, else the one role that does; where none does, several do, or a category needs a level
nobody recorded, the marker 'legacy' (it keeps filing its registered categories). Either way it is flagged
`agency_migrated`, and `xinyong clients list` says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from consent.catalogue import load_default

revision: str = '0008'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_clients = sa.table(
    'clients',
    sa.column('client_id', sa.String),
    sa.column('role', sa.String),
    sa.column('categories', sa.JSON),
    sa.column('agency', sa.String),
    sa.column('agency_migrated', sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency', sa.String(length=40), nullable=True,
                                      comment="a provider's agency role (a code of the catalogue's provider_roles), "
                                              "or 'legacy'"))
        batch_op.add_column(sa.Column('agency_level', sa.String(length=20), nullable=True,
                                      comment="a provider's administrative level (a code of the catalogue's "
                                              "agency_levels)"))
        batch_op.add_column(sa.Column('agency_migrated', sa.Boolean(), server_default=sa.false(), nullable=False,
                                      comment='true for a provider registered before agency roles, its role set '
                                              'by migration 0008'))

    conn = op.get_bind()
    catalogue = load_default()
    providers = conn.execute(sa.select(_clients.c.client_id, _clients.c.categories)
                             .where(_clients.c.role == 'provider')).all()
    for client_id, categories in providers:
        conn.execute(_clients.update().where(_clients.c.client_id == client_id).values(
            agency=catalogue.derive_agency(list(categories or [])), agency_migrated=True))

    with op.batch_alter_table('clients', schema=None) as batch_op:
        # Added by hand: autogenerate does not compare check constraints.
        batch_op.create_check_constraint(op.f('ck_clients_provider_agency'),
                                         "role <> 'provider' OR agency IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_clients_provider_agency'), type_='check')
        batch_op.drop_column('agency_migrated')
        batch_op.drop_column('agency_level')
        batch_op.drop_column('agency')
