"""employee: search and list indexes on PostgreSQL

PostgreSQL answered Employee maintenance's search by scanning the whole of
ix_employee_username_key_search_text (a LIKE '%word%' cannot seek in a b-tree), and
the list's deep pages by reading a table row for every id skipped. Two indexes, on
PostgreSQL only: a trigram index (pg_trgm) on search_text, which finds the rows a
LIKE '%word%' matches for words of three letters or more, and (username_key)
INCLUDE (id), which gives a page's ids from the index alone. SQLite needs neither:
its b-tree indexes carry the rowid, which is the id, and bench/bench_lists.py
meets its targets there.

pg_trgm is a trusted extension (PostgreSQL 13 and later): the database's owner may
create it without being a superuser.

Revision ID: ed8392a709e2
Revises: d2b0dcbd2210
Create Date: 2026-11-28 09:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'ed8392a709e2'
down_revision = 'd2b0dcbd2210'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index('ix_employee_search_text_trgm', 'employee', ['search_text'], unique=False,
                    postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
    op.create_index('ix_employee_username_key_id', 'employee', ['username_key'], unique=False,
                    postgresql_include=['id'])


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_employee_username_key_id', table_name='employee')
    op.drop_index('ix_employee_search_text_trgm', table_name='employee')
    # pg_trgm stays: other objects of the database may have come to use it.
