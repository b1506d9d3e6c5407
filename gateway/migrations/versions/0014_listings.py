"""lists (名单) with prior notice: listings, and each version of one with its cause

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-27 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0014'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "status IN ('proposed', 'in_effect', 'suspended')"


def upgrade() -> None:
    op.create_table('listings',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False, comment='the record the listing rests on'),
    sa.Column('provider_id', sa.String(length=64), nullable=False,
              comment='the agency that proposed it and decides on it'),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False,
              comment='the number of its newest row in listing_versions'),
    sa.Column('measures', sa.String(length=400), nullable=False,
              comment='comma-separated measure codes of lists.json'),
    sa.Column('proposed_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('objection_until', sa.Date(), nullable=True,
              comment='last day of the objection window (CST); NULL for a list without prior notice'),
    sa.Column('objection_id', sa.String(length=32), nullable=True,
              comment="the person's objection to the listing"),
    sa.Column('objection_open', sa.Boolean(), server_default=sa.false(), nullable=False,
              comment='an objection to it waits for its decision'),
    sa.Column('effective_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('until', sa.Date(), nullable=True, comment='in effect while today is before this day (CST)'),
    sa.Column('ended_at', audit.clock.UTCDateTime(), nullable=True, comment='dropped or ended at'),
    sa.Column('end_cause', sa.String(length=24), nullable=True),
    sa.Column('monitored_until', sa.Date(), nullable=True,
              comment='after a black listing ends: under key credit monitoring until this day (LIST-9)'),
    sa.Column('texts_ct', sa.LargeBinary(), nullable=False, comment='the reason and basis, encrypted'),
    sa.CheckConstraint("kind IN ('black', 'red')", name=op.f('ck_listings_kind')),
    sa.CheckConstraint("status IN ('proposed', 'in_effect', 'suspended', 'dropped', 'ended')",
                       name=op.f('ck_listings_status')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_listings_version_positive')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_listings_record_id_records')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_listings_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listings'))
    )
    op.create_index('uq_listings_live_record_kind', 'listings', ['record_id', 'kind'], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index('ix_listings_subject_id_status', 'listings', ['subject_id', 'status'], unique=False)
    op.create_index('ix_listings_provider_id_status', 'listings', ['provider_id', 'status'], unique=False)
    op.create_index('ix_listings_status_objection_until', 'listings', ['status', 'objection_until'], unique=False)
    op.create_table('listing_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('listing_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('cause', sa.String(length=24), nullable=False, comment='why it changed: a code of consent/listings.py'),
    sa.Column('actor', sa.String(length=64), nullable=False,
              comment="the agency, the person's objection or the service"),
    sa.Column('at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('words_ct', sa.LargeBinary(), nullable=True, comment="the agency's reason, encrypted"),
    sa.ForeignKeyConstraint(['listing_id'], ['listings.id'], name=op.f('fk_listing_versions_listing_id_listings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_versions')),
    sa.UniqueConstraint('listing_id', 'version', name='uq_listing_versions_listing_version')
    )


def downgrade() -> None:
    op.drop_table('listing_versions')
    op.drop_index('ix_listings_status_objection_until', table_name='listings')
    op.drop_index('ix_listings_provider_id_status', table_name='listings')
    op.drop_index('ix_listings_subject_id_status', table_name='listings')
    op.drop_index('uq_listings_live_record_kind', table_name='listings')
    op.drop_table('listings')
