"""Least privilege on PostgreSQL: the owner role migrates; the application role reads and writes
the state and may only read and append the audit log.

``grant_application_role`` runs as the owner, in the migration's database, after the migrations
(``decide db-upgrade --owner-url``).  It first checks that the application role cannot act as
the owner — it is not a superuser, not a member of the owner, and owns neither the database
(in PostgreSQL 15 its owner owns the ``public`` schema), nor the schema, nor a table, sequence
or function in it (an owner may ``ALTER TABLE … DISABLE TRIGGER``, drop a trigger, or replace
the trigger function with one that lets an UPDATE through) — then gives it exactly:

- ``USAGE`` on the schema, not ``CREATE``;
- ``SELECT, INSERT, UPDATE, DELETE`` on the state tables;
- ``SELECT, INSERT`` on the append-only tables (``APPEND_ONLY``: the audit events and the
  signed checkpoints), so an UPDATE or DELETE there is refused for want of the privilege even
  before the triggers refuse it;
- ``SELECT`` on ``alembic_version``; ``USAGE, SELECT`` on the sequences.

Never ``TRUNCATE``, ``REFERENCES`` or ``TRIGGER``.  The grants are derived from the catalogue each
time and whatever else the role held on these tables is revoked first, so a table a new
migration adds is granted by the same ``db-upgrade`` that created it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, make_url, text
from sqlalchemy.exc import ArgumentError

from procedures.errors import InputError
from store.dbapi import safe_url

__all__ = [
    "APPEND_ONLY",
    "Grants",
    "application_role",
    "check_application_role",
    "grant_application_role",
]

APPEND_ONLY = ("audit_events", "audit_checkpoints")
READ_ONLY = ("alembic_version",)
STATE = ("SELECT", "INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class Grants:
    role: str
    owner: str
    schema: str
    tables: dict[str, tuple[str, ...]]  # each table and the privileges the role now has


def grant_application_role(conn: Connection, role: str) -> Grants:
    """Give ``role`` the application's privileges on the current schema (see the module); the
    connection is the owner's, inside the migration's transaction."""
    owner, schema = check_application_role(conn, role)
    quote = conn.dialect.identifier_preparer.quote
    who, where = quote(role), quote(schema)
    tables = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v') ORDER BY c.relname"
            ),
            {"schema": schema},
        )
    ]
    granted: dict[str, tuple[str, ...]] = {}
    conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}")
    conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}")
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {where} FROM {who}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {where} TO {who}")
    for table in tables:
        if table in READ_ONLY:
            privileges: tuple[str, ...] = ("SELECT",)
        elif table in APPEND_ONLY:
            privileges = ("SELECT", "INSERT")
        else:
            privileges = STATE
        conn.exec_driver_sql(f"GRANT {', '.join(privileges)} ON {where}.{quote(table)} TO {who}")
        granted[table] = privileges
    conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}")
    return Grants(role=role, owner=owner, schema=schema, tables=granted)


def check_application_role(conn: Connection, role: str) -> tuple[str, str]:
    """Refuse a role that could act as the owner (see the module), naming how to fix it; the
    owner (this connection's role) and the schema."""
    owner, schema = conn.execute(text("SELECT current_user, current_schema()")).one()
    found = conn.execute(
        text(
            "SELECT rolsuper, pg_has_role(:role, :owner, 'MEMBER') FROM pg_roles "
            "WHERE rolname = :role"
        ),
        {"role": role, "owner": owner},
    ).one_or_none()
    rule = "[least_privilege]"
    if role == owner:
        raise InputError(
            f"应用角色与所有者角色相同 {rule} DECIDE_DATABASE_URL connects as {role!r}, the owner "
            "given by --owner-url: the application needs a role of its own (README: Scaling out)"
        )
    if found is None:
        raise InputError(
            f"应用角色不存在 {rule} the application role {role!r} (the user of "
            f"DECIDE_DATABASE_URL) does not exist: CREATE ROLE {role} LOGIN PASSWORD '…' "
            "(as a superuser or a role with CREATEROLE)"
        )
    superuser, member = found
    if superuser or member:
        what = "is a superuser" if superuser else f"is a member of the owner {owner!r}"
        fix = f"ALTER ROLE {role} NOSUPERUSER" if superuser else f"REVOKE {owner} FROM {role}"
        raise InputError(
            f"应用角色权限过大 {rule} the application role {role!r} {what}: it could alter the "
            f"tables and disable the audit log's triggers — give the application a plain LOGIN "
            f"role ({fix})"
        )
    owned = [
        f"{kind} {name}"
        for kind, name in conn.execute(
            text(
                "SELECT 'database', current_database() WHERE pg_has_role(:role, "
                "(SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER') "
                "UNION ALL SELECT 'schema', nspname FROM pg_namespace "
                "WHERE nspname = :schema AND pg_has_role(:role, nspowner, 'MEMBER') "
                "UNION ALL SELECT 'table', c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND pg_has_role(:role, c.relowner, 'MEMBER') "
                "UNION ALL SELECT 'function', p.proname FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = :schema AND pg_has_role(:role, p.proowner, 'MEMBER')"
            ),
            {"role": role, "schema": schema},
        )
    ]
    if owned:
        raise InputError(
            f"应用角色拥有数据库对象 {rule} the application role {role!r} owns "
            f"{', '.join(owned[:5])}{f' and {len(owned) - 5} more' if len(owned) > 5 else ''}: an owner may alter the "
            "tables and disable the audit log's triggers. Hand them to the owner first, as a "
            f"superuser: REASSIGN OWNED BY {role} TO {owner} (in this database)"
        )
    return str(owner), str(schema)


def application_role(owner_url: str, database_url: str) -> str:
    """The role of ``database_url`` (DECIDE_DATABASE_URL), once both URLs are known to name
    one PostgreSQL database."""
    try:
        owner, app = make_url(owner_url), make_url(database_url)
    except ArgumentError:
        raise InputError(
            f"--owner-url {safe_url(owner_url)!r} 不是数据库地址 is not a database URL "
            "(postgresql+psycopg://OWNER@HOST:5432/DATABASE)"
        ) from None
    if not owner.drivername.startswith("postgresql"):
        raise InputError(
            f"--owner-url {safe_url(owner_url)!r} 不是 PostgreSQL 地址 is not a PostgreSQL URL "
            "(postgresql+psycopg://OWNER@HOST:5432/DATABASE)"
        )
    mine = (owner.host or "", owner.port or 5432, owner.database)
    theirs = (app.host or "", app.port or 5432, app.database)
    if mine != theirs:
        raise InputError(
            f"两个地址不是同一数据库 --owner-url names {mine[0]}:{mine[1]}/{mine[2]}, "
            f"DECIDE_DATABASE_URL {theirs[0]}:{theirs[1]}/{theirs[2]}: both must name the "
            "database the application uses"
        )
    if not app.username:
        raise InputError(
            "DECIDE_DATABASE_URL 未写明用户 names no user: give the application role in it "
            "(postgresql+psycopg://decide_app@HOST:5432/DATABASE)"
        )
    return str(app.username)
