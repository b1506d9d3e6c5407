"""foundation: audit, vault, gateway tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 02:48:58.714025
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False, comment='sequence number of the newest entry'),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_counter_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_counter'))
    )
    op.execute("INSERT INTO audit_counter (id, last_seq) VALUES (1, 0)")
    op.create_table('audit_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=True, comment='blind index of the person (HMAC), never the citizen ID'),
    sa.Column('purpose', sa.String(length=60), nullable=True),
    sa.Column('basis', sa.String(length=200), nullable=True, comment='grant id or legal basis'),
    sa.Column('record_ids', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False, comment='never a payload or a citizen ID'),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False, comment='SHA-256(0x00 || entry bytes)'),
    sa.CheckConstraint("outcome IN ('allowed', 'denied')", name=op.f('ck_audit_entries_outcome')),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_audit_entries_seq_positive')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_actor_seq', ['actor', 'seq'], unique=False)
        batch_op.create_index('ix_audit_entries_subject_ref_seq', ['subject_ref', 'seq'], unique=False)

    op.create_table('catalogues',
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('loaded_at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_catalogues'))
    )
    op.create_table('subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False, comment='HMAC-SHA256 blind index of the citizen ID'),
    sa.Column('kek_version', sa.Integer(), nullable=True, comment='version of the wrapping key'),
    sa.Column('wrapped_dek', sa.LargeBinary(), nullable=True, comment='data key wrapped under the KEK; NULL once crypto-shredded'),
    sa.Column('citizen_id_ct', sa.LargeBinary(), nullable=True, comment='citizen ID, encrypted'),
    sa.Column('name_ct', sa.LargeBinary(), nullable=True, comment='name, encrypted'),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('shredded_at', audit.clock.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('subject_ref', name=op.f('uq_subjects_subject_ref'))
    )
    op.create_table('records',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=60), nullable=False),
    sa.Column('catalogue_version', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=64), nullable=False, comment='client id of the agency that produced it (谁产生、谁负责)'),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('decided_at', sa.Date(), nullable=False),
    sa.Column('display_from', sa.Date(), nullable=False),
    sa.Column('display_until', sa.Date(), nullable=False, comment='first day the record is no longer shown'),
    sa.Column('sealed', sa.LargeBinary(), nullable=False, comment='AES-GCM of payload and document'),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True, comment='keyed hash of the request, to tell a retry from a reuse'),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('revoke_reason_ct', sa.LargeBinary(), nullable=True, comment='revocation reason, encrypted'),
    sa.CheckConstraint("status IN ('active', 'revoked')", name=op.f('ck_records_status')),
    sa.CheckConstraint('display_until >= display_from', name=op.f('ck_records_display_order')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_records_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records')),
    sa.UniqueConstraint('provider_id', 'idempotency_key', name='uq_records_provider_idempotency')
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_subject_id_category', ['subject_id', 'category'], unique=False)

    op.create_table('accounts',
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('activation_code_hash', sa.String(length=200), nullable=True, comment='argon2, one-time'),
    sa.Column('activation_expires_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True, comment='argon2'),
    sa.Column('activated_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('subject_ref', name=op.f('pk_accounts'))
    )
    op.create_table('clients',
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False, comment='SHA-256 of a 256-bit random secret'),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=True, comment='institution kind or agency kind'),
    sa.Column('categories', sa.JSON(), nullable=False, comment='categories a provider may submit'),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('disabled_at', audit.clock.UTCDateTime(), nullable=True),
    sa.CheckConstraint("role IN ('provider', 'institution', 'auditor')", name=op.f('ck_clients_role')),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_clients'))
    )
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False, comment='blind index of the ID typed, never the ID'),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_account_at', ['account_key', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_address_at', ['address', 'at'], unique=False)

    op.create_table('tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False, comment='SHA-256 of the token'),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=True, comment='the person an app acts for'),
    sa.Column('issued_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('expires_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_tokens'))
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_client_id'), ['client_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_client_id'))

    op.drop_table('tokens')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_address_at')
        batch_op.drop_index('ix_login_failures_account_at')

    op.drop_table('login_failures')
    op.drop_table('clients')
    op.drop_table('accounts')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_subject_id_category')

    op.drop_table('records')
    op.drop_table('subjects')
    op.drop_table('catalogues')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_subject_ref_seq')
        batch_op.drop_index('ix_audit_entries_actor_seq')

    op.drop_table('audit_entries')
    op.drop_table('audit_counter')
