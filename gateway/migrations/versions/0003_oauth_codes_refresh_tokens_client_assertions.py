"""oauth: authorization codes, refresh tokens, client assertions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:13:12.064384
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('authorization_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False, comment='SHA-256 of the code'),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False, comment='the person who logged in'),
    sa.Column('redirect_uri', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False, comment='BASE64URL(SHA-256(code_verifier))'),
    sa.Column('code_challenge_method', sa.String(length=10), nullable=False),
    sa.Column('family_id', sa.String(length=32), nullable=False, comment='the tokens issued for this code carry it'),
    sa.Column('issued_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('expires_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('used_at', audit.clock.UTCDateTime(), nullable=True),
    sa.CheckConstraint("code_challenge_method = 'S256'", name=op.f('ck_authorization_codes_s256_only')),
    sa.CheckConstraint('expires_at > issued_at', name=op.f('ck_authorization_codes_expiry_order')),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_authorization_codes'))
    )
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_codes_expires_at'), ['expires_at'], unique=False)

    op.create_table('used_client_assertions',
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('jti_hash', sa.String(length=64), nullable=False, comment='SHA-256 of the jti'),
    sa.Column('expires_at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti_hash', name=op.f('pk_used_client_assertions'))
    )
    with op.batch_alter_table('used_client_assertions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_client_assertions_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jwks', sa.JSON(), nullable=True, comment='public JWK Set for private_key_jwt (RFC 7523); private members are refused at registration'))
        batch_op.alter_column('secret_hash',
               existing_type=sa.VARCHAR(length=64),
               nullable=True,
               comment='SHA-256 of a 256-bit random secret; NULL for a private_key_jwt client',
               existing_comment='SHA-256 of a 256-bit random secret')
        # Added by hand: autogenerate does not compare check constraints.
        batch_op.create_check_constraint(op.f('ck_clients_credential'), 'secret_hash IS NOT NULL OR jwks IS NOT NULL')

    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refresh_token_hash', sa.String(length=64), nullable=True, comment='SHA-256 of the refresh token issued with this token'))
        batch_op.add_column(sa.Column('refresh_expires_at', audit.clock.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('refresh_used_at', audit.clock.UTCDateTime(), nullable=True, comment='set when the refresh token is spent; a later use is a replay'))
        batch_op.add_column(sa.Column('family_id', sa.String(length=32), nullable=True, comment='one per authorization code'))
        batch_op.create_index(batch_op.f('ix_tokens_family_id'), ['family_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_tokens_refresh_token_hash'), ['refresh_token_hash'])



def downgrade() -> None:
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_tokens_refresh_token_hash'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_tokens_family_id'))
        batch_op.drop_column('family_id')
        batch_op.drop_column('refresh_used_at')
        batch_op.drop_column('refresh_expires_at')
        batch_op.drop_column('refresh_token_hash')

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_clients_credential'), type_='check')
        batch_op.alter_column('secret_hash',
               existing_type=sa.VARCHAR(length=64),
               nullable=False,
               comment='SHA-256 of a 256-bit random secret',
               existing_comment='SHA-256 of a 256-bit random secret; NULL for a private_key_jwt client')
        batch_op.drop_column('jwks')

    with op.batch_alter_table('used_client_assertions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_client_assertions_expires_at'))

    op.drop_table('used_client_assertions')
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_codes_expires_at'))

    op.drop_table('authorization_codes')
