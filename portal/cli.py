"""flask commands: create-admin, setup-link, demo, rotate-mfa-keys, generate-mfa-key, purge-pos-log."""
import secrets
from datetime import timedelta

import click
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app, url_for

from portal.clock import utcnow
from portal.extensions import db
from portal.models import MfaCredential, SmsGateway, StatusLevel
from portal.security import secret_box
from portal.security.passwords import password_problems
from portal.services.employees import EmployeeData, EmployeeRuleError, create_employee, username_taken
from portal.services.setup import issue_setup_token
from portal.services.terminal_log import purge_before

# Every column that holds a secret_box token; a new encrypted column is added here (DESIGN.md §6.4).
ENCRYPTED_COLUMNS = [MfaCredential.secret_encrypted, SmsGateway.password_encrypted, SmsGateway.headers_encrypted]
ROTATION_BATCH = 500

DEMO_EMPLOYEES = [
    ("demo.admin", "Dana Admin", StatusLevel.ADMINISTRATOR),
    ("demo.manager", "Milo Manager", 6),
    ("demo.supervisor", "Sam Supervisor", 4),
    ("demo.cashier", "Casey Cashier", 1),
]


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", required=True)
    @click.option("--full-name", default=None, help="Defaults to the username.")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def create_admin(username: str, full_name: str | None, password: str) -> None:
        """Create an administrator (status 9) without a browser."""
        problems = password_problems(password, username)
        if problems:
            raise click.ClickException(" ".join(problems))
        data = EmployeeData(username=username, full_name=full_name or username,
                            status_level=StatusLevel.ADMINISTRATOR)
        try:
            create_employee(data, password, actor=None)
        except EmployeeRuleError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"Administrator {username} created.")

    @app.cli.command("setup-link")
    @click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
    def setup_link(base_url: str) -> None:
        """Print a one-time link to create the first administrator (only on an empty database)."""
        token = issue_setup_token()
        if token is None:
            return
        with app.test_request_context(base_url=base_url):
            link = url_for("auth.setup", token=token, _external=True)
        click.echo("\n  No employee exists yet. Open this one-time link to create the first administrator:")
        click.echo(f"\n    {link}\n")

    @app.cli.command("demo")
    def demo() -> None:
        """Load demo employees of several status levels and print their credentials."""
        click.echo("Demo employees (passwords are new on every run for employees created now):")
        for username, full_name, level in DEMO_EMPLOYEES:
            if username_taken(username):
                click.echo(f"  {username:<16} already exists (status {level}); password unchanged")
                continue
            password = "-".join(secrets.token_hex(3) for _ in range(3))
            create_employee(EmployeeData(username=username, full_name=full_name, status_level=level,
                                         email=f"{username}@example.com"), password, actor=None)
            click.echo(f"  {username:<16} status {level}  password {password}")

    @app.cli.command("purge-pos-log")
    @click.option("--days", default=90, show_default=True, type=click.IntRange(min=1),
                  help="Keep the POS client log records of this many days.")
    def purge_pos_log(days: int) -> None:
        """Delete POS client log records older than --days (run it daily, e.g. from cron)."""
        cutoff = utcnow() - timedelta(days=days)
        click.echo(f"Deleted {purge_before(cutoff)} POS client log record(s) received before "
                   f"{cutoff:%Y-%m-%d %H:%M} UTC.")

    @app.cli.command("generate-mfa-key")
    def generate_mfa_key() -> None:
        """Print a new random key for MFA_ENCRYPTION_KEYS (put it first, then run rotate-mfa-keys)."""
        click.echo(secret_box.generate_key())

    @app.cli.command("rotate-mfa-keys")
    @click.option("--batch-size", default=ROTATION_BATCH, show_default=True, type=click.IntRange(min=1),
                  help="Secrets re-encrypted per transaction.")
    def rotate_mfa_keys(batch_size: int) -> None:
        """Re-encrypt every stored secret under the newest key (the first of MFA_ENCRYPTION_KEYS)."""
        newest = _newest_key()
        unreadable = _unreadable_secrets(batch_size)
        if unreadable:
            raise click.ClickException(
                f"{len(unreadable)} stored secret(s) cannot be decrypted with any key in MFA_ENCRYPTION_KEYS "
                f"({_row_list(unreadable)}). Nothing was changed. Add the key they were encrypted with to "
                "MFA_ENCRYPTION_KEYS (after the newest) and run the command again.")
        rotated, current = _rotate_all(newest, batch_size)
        click.echo(f"Re-encrypted {rotated} secret(s) under the newest key; "
                   f"{current} already used it.")


def _newest_key() -> Fernet:
    """The first key of MFA_ENCRYPTION_KEYS; every key must be a valid Fernet key."""
    keys = [k.strip() for k in current_app.config.get("MFA_ENCRYPTION_KEYS", "").split(",") if k.strip()]
    if not keys:
        raise click.ClickException("MFA_ENCRYPTION_KEYS holds no key.")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise click.ClickException(
                f"Key number {position} of MFA_ENCRYPTION_KEYS is not a Fernet key "
                "(32 url-safe base64-encoded bytes; `flask generate-mfa-key` makes one).") from None
    return Fernet(keys[0])


def _batches(column, batch_size: int):
    """(primary key, token) rows of one encrypted column, in primary-key order, a batch at a time;
    rows without a secret (NULL) are skipped.

    Keyset pages (id > last id) keep each read short and never skip a row when others are added
    or deleted meanwhile; each batch is read in its own transaction.
    """
    table = column.class_
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(table.id, column).where(table.id > last_id, column.is_not(None))
            .order_by(table.id).limit(batch_size)).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


def _unreadable_secrets(batch_size: int) -> list[tuple[str, int]]:
    """(table, id) of every stored secret that no configured key decrypts. Reads only."""
    unreadable = []
    for column in ENCRYPTED_COLUMNS:
        for rows in _batches(column, batch_size):
            for row_id, token in rows:
                try:
                    secret_box.decrypt(token)
                except secret_box.SecretBoxError:
                    unreadable.append((column.class_.__tablename__, row_id))
            db.session.rollback()  # end the read transaction between batches
    return unreadable


def _rotate_all(newest: Fernet, batch_size: int) -> tuple[int, int]:
    """Re-encrypt, one transaction per batch; returns (re-encrypted, already under the newest key).

    Why per batch and not one transaction for all: the secrets are read and re-encrypted while
    the portal keeps running, and every sign-in updates its credential row (the last used time
    step). One long transaction would hold those rows (on SQLite, the whole database) for the
    whole run; a batch holds them for milliseconds. Atomicity is not lost where it matters:
    every secret was proved readable before the first write, each row is updated only while
    it still holds the token that was read (a row changed or removed meanwhile is left alone),
    and a secret already under the newest key is skipped, so a run that stops half-way is
    finished by running the command again.
    """
    rotated = current = 0
    for column in ENCRYPTED_COLUMNS:
        table = column.class_
        for rows in _batches(column, batch_size):
            in_batch = 0
            for row_id, token in rows:
                try:
                    newest.decrypt(token)
                except InvalidToken:
                    pass
                else:
                    current += 1
                    continue
                try:
                    new_token = secret_box.rotate(token)
                except secret_box.SecretBoxError:
                    # Stored after the check above under a key we do not have: keep what is done, stop.
                    db.session.rollback()
                    raise click.ClickException(
                        f"A secret stored during the run ({table.__tablename__} id {row_id}) cannot be "
                        f"decrypted with the configured keys. {rotated} secret(s) were re-encrypted in earlier "
                        "batches; the rest are unchanged.") from None
                result = db.session.execute(
                    sa.update(table).where(table.id == row_id, column == token).values({column.key: new_token})
                    .execution_options(synchronize_session=False))
                in_batch += result.rowcount
            db.session.commit()
            rotated += in_batch
    return rotated, current


def _row_list(rows: list[tuple[str, int]], limit: int = 10) -> str:
    shown = ", ".join(f"{table} id {row_id}" for table, row_id in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")
