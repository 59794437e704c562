"""docker-compose.yml's database roles (deploy/postgres/roles.sql): the role the app connects
as may read and write rows, and can neither drop nor disable the audit log's triggers.

PostgreSQL only: the roles are made in the test database by the same script compose runs,
with names of this test's own, and dropped afterwards.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection, models

from registry.models import Registry

ROOT = Path(__file__).resolve().parents[1]
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]


def psql(*args: str) -> None:
    db = connection.settings_dict
    command = [
        "psql", "-X", "-q", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
        "-U", db["USER"] or "postgres", "-d", db["NAME"], *args,
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True)


@pytest.fixture
def app_role() -> Iterator[psycopg.Connection]:
    """A connection as the app role that roles.sql makes (with an owner role beside it)."""
    suffix = secrets.token_hex(4)
    owner, app, password = f"janitor_owner_{suffix}", f"janitor_app_{suffix}", secrets.token_hex(8)
    psql("-v", f"owner={owner}", "-v", f"owner_password={password}",
         "-v", f"app={app}", "-v", f"app_password={password}", "-f", str(ROLES_SQL))  # fmt: skip
    db = connection.settings_dict
    app_connection = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"],
        user=app, password=password, autocommit=True,
    )  # fmt: skip
    try:
        yield app_connection
    finally:
        app_connection.close()
        su = db["USER"] or "postgres"
        for role in (app, owner):
            psql("-c", f'REASSIGN OWNED BY "{role}" TO "{su}"; DROP OWNED BY "{role}"; '
                       f'DROP ROLE "{role}"')  # fmt: skip


def test_the_app_role_reads_and_writes_rows(app_role: psycopg.Connection) -> None:
    app_role.execute(*insert_statement(Registry(name="r", url="http://r")))
    assert app_role.execute("SELECT count(*) FROM registry_registry").fetchone() == (1,)
    app_role.execute("DELETE FROM registry_registry")


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE registry_deletionbatch DISABLE TRIGGER ALL",
        "DROP TRIGGER registry_deletionbatch_frozen ON registry_deletionbatch",
        "DROP FUNCTION janitor_refuse_audit_delete() CASCADE",
        "TRUNCATE registry_deletionitem",
        "DROP TABLE registry_deletionitem",
        "CREATE TABLE mine (id int)",
    ],
)
def test_the_app_role_cannot_undo_the_audit_logs_protection(
    app_role: psycopg.Connection, statement: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute(statement)


def insert_statement(row: models.Model) -> tuple[str, list[object]]:
    """The INSERT the ORM would send for `row`, every column named: a raw INSERT written
    by hand breaks whenever a migration adds a column without a database default."""
    fields = [f for f in row._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column or f.attname) for f in fields)
    values = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields]
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {row._meta.db_table} ({columns}) VALUES ({placeholders})", values
