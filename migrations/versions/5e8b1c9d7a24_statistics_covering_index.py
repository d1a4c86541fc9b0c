"""首页 统计分析: a covering index for the expert charts (PostgreSQL)

Revision ID: 5e8b1c9d7a24
Revises: d8abe80e0094
Create Date: 2026-12-03 12:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5e8b1c9d7a24'
down_revision = 'd8abe80e0094'
branch_labels = None
depends_on = None

COLUMNS = ["admission_batch", "status", "prefecture_id", "main_specialty_id", "title_id",
           "birth_date"]


def upgrade():
    # One GROUPING SETS scan of these columns answers every expert chart; as an index it is
    # read index-only (SQLite installs are small and scan the table).
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_expert_statistics", "expert", COLUMNS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_expert_statistics", table_name="expert")
