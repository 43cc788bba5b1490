"""flask commands: create-admin, setup-link, demo."""
import secrets

import click
from flask import Flask, url_for

from portal.models import StatusLevel
from portal.security.passwords import password_problems
from portal.services.employees import EmployeeData, EmployeeRuleError, create_employee, username_taken
from portal.services.setup import issue_setup_token

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
