"""CLI commands for the people at the pages: ``penpost users create|list|delete``.

Passwords are taken from ``--password`` (for scripts; it shows in the process list) or
asked for twice without echo; nothing secret is ever printed.
"""

from __future__ import annotations

import typer
from rich.console import Console

from jobs.servicecli import migrated_store
from jobs.settings import load_settings
from jobs.store import ConflictError

ROLES = ("operator", "approver", "admin")  # as jobs.accounts.ROLES (imported lazily: fastapi)

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
users_app = typer.Typer(help="Operator, approver and admin accounts of the web pages.",
                        no_args_is_help=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


@users_app.command("create")
def users_create(name: str = typer.Argument(..., help="login name"),
                 role: str = typer.Option(..., "--role",
                                          help="operator, approver or admin"),
                 password: str | None = typer.Option(
                     None, "--password", help="the password (else asked for without echo)")
                 ) -> None:
    """Create a user of the web pages (/approve, /station/NAME)."""
    from jobs.accounts import AccountError, create_user

    if role not in ROLES:
        _fail(f"--role {role!r}: one of {', '.join(ROLES)}")
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    store = migrated_store(load_settings())
    try:
        user = create_user(store, name, password, role)
    except (AccountError, ConflictError) as error:
        _fail(str(error))
        return
    console.print(f"user {user.username} ({user.role}) created", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List the users with their roles."""
    from jobs.accounts import users

    for user in users(migrated_store(load_settings())):
        console.print(f"{user.username}\t{user.role}\tsince {user.created_at:%Y-%m-%d}",
                      highlight=False)


@users_app.command("delete")
def users_delete(name: str = typer.Argument(..., help="login name")) -> None:
    """Delete a user and end their sessions."""
    from jobs.accounts import delete_user

    if not delete_user(migrated_store(load_settings()), name):
        _fail(f"no user named {name!r}")
    console.print(f"user {name} deleted", highlight=False)
