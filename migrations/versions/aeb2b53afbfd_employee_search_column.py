"""employee: search column for Employee maintenance

employee.search_text holds username, full name and email lower-cased in Python
(str.lower() folds every script; SQLite's lower() only ASCII), so a search is
one plain LIKE on both databases. It is indexed after username_key: a search
page reads that index alone, in list order, never the table rows.

The column is added nullable, filled for the existing rows, then made NOT NULL
(on SQLite by batch mode's copy of the table; on PostgreSQL in place).

Revision ID: aeb2b53afbfd
Revises: 2176f3452222
Create Date: 2026-11-27 22:50:19.646083

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'aeb2b53afbfd'
down_revision = '2176f3452222'
branch_labels = None
depends_on = None

BATCH = 5000

employee = sa.table(
    'employee',
    sa.column('id', sa.Integer()),
    sa.column('username', sa.String()),
    sa.column('full_name', sa.String()),
    sa.column('email', sa.String()),
    sa.column('search_text', sa.Text()),
)


def search_text(username, full_name, email):
    """portal.models.employee.employee_search_text as of this revision (a migration keeps its own copy)."""
    return "\n".join((part or "").strip().lower() for part in (username, full_name, email))


def backfill(conn):
    """Fill search_text for every existing employee, in id order, BATCH rows at a time."""
    update = (employee.update().where(employee.c.id == sa.bindparam('row_id'))
              .values(search_text=sa.bindparam('text')))
    last_id = None
    while True:
        query = sa.select(employee.c.id, employee.c.username, employee.c.full_name, employee.c.email)
        if last_id is not None:
            query = query.where(employee.c.id > last_id)
        rows = conn.execute(query.order_by(employee.c.id).limit(BATCH)).all()
        if not rows:
            return
        conn.execute(update, [{'row_id': r.id, 'text': search_text(r.username, r.full_name, r.email)}
                              for r in rows])
        last_id = rows[-1].id


def upgrade():
    with op.batch_alter_table('employee', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))

    backfill(op.get_bind())

    with op.batch_alter_table('employee', schema=None) as batch_op:
        batch_op.alter_column('search_text', existing_type=sa.Text(), nullable=False)
        batch_op.create_index('ix_employee_username_key_search_text', ['username_key', 'search_text'], unique=False)


def downgrade():
    with op.batch_alter_table('employee', schema=None) as batch_op:
        batch_op.drop_index('ix_employee_username_key_search_text')
        batch_op.drop_column('search_text')
