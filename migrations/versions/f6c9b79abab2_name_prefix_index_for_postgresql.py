"""name prefix index for PostgreSQL

Revision ID: f6c9b79abab2
Revises: ba9e76483360
Create Date: 2026-11-24 10:48:28.564874

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f6c9b79abab2'
down_revision = 'ba9e76483360'
branch_labels = None
depends_on = None


def upgrade():
    # LIKE 'prefix%' walks a btree only with text_pattern_ops under a non-C collation.
    # (SQLite needs nothing: its GLOB prefix search uses the plain index on name.)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_expert_name_pattern", "expert", [sa.text("name text_pattern_ops")])


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_expert_name_pattern", table_name="expert")
