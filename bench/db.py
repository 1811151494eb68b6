"""The benchmark database: PostgreSQL only, created if missing, migrated, ticket tables emptied."""

from __future__ import annotations

import os

import environ
import psycopg2
from psycopg2 import sql

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/service_desk_bench"


class BenchDatabaseError(RuntimeError):
    """The benchmark cannot use the configured database."""


def database_url() -> str:
    """``BENCH_DATABASE_URL``, else ``DATABASE_URL``, else a local ``service_desk_bench`` database."""
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL


def connection_params(url: str, *, maintenance: bool = False) -> dict[str, object]:
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise BenchDatabaseError(f"The benchmarks need PostgreSQL; {url!r} is {config['ENGINE']}.")
    params: dict[str, object] = {
        "dbname": "postgres" if maintenance else config["NAME"],
        "user": config.get("USER") or "postgres",
        "host": config.get("HOST") or "127.0.0.1",
        "port": int(config.get("PORT") or 5432),
    }
    if config.get("PASSWORD"):
        params["password"] = config["PASSWORD"]
    return params


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; return whether it was created."""
    name = str(connection_params(url)["dbname"])
    conn = psycopg2.connect(**connection_params(url, maintenance=True))
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(url: str) -> None:
    """Drop the benchmark database (only one whose name says "bench"), e.g. after migrations were rewritten."""
    name = str(connection_params(url)["dbname"])
    if "bench" not in name:
        raise BenchDatabaseError(f"Refusing to drop {name}: only a database named *bench* is disposable.")
    conn = psycopg2.connect(**connection_params(url, maintenance=True))
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def setup_django(url: str, *, migrate: bool = True) -> None:
    """Point Django at ``url`` with production-like switches, then set it up and migrate (worker
    processes of a scenario pass ``migrate=False``: the main process migrated already)."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "service_desk.settings.dev"
    # The debug cursor formats and keeps every query: timings with it on would measure Django's logging.
    os.environ["DEBUG"] = "false"
    # Services queue event publishing after commit; keep that in-process instead of a broker or queue folder.
    os.environ.setdefault("CELERY_BROKER_URL", "memory://localhost/")

    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)


def ticket_tables() -> list[str]:
    from tickets.models import Attachment, Message, Ticket, TicketCC, TicketEvent, TicketLink

    models = [Ticket, Message, TicketEvent, TicketCC, TicketLink, Attachment, Ticket.tags.through]
    return [model._meta.db_table for model in models]


def ticket_count() -> int:
    from tickets.models import Ticket

    return Ticket.objects.count()


def truncate_ticket_tables() -> None:
    """Empty every ticket table (and what references them) and restart their ids."""
    from django.db import connection

    tables = sql.SQL(", ").join(sql.Identifier(t) for t in ticket_tables())
    with connection.cursor() as cursor:
        statement = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables)
        cursor.execute(statement.as_string(cursor.cursor.connection))


def raw_connection() -> psycopg2.extensions.connection:
    """A plain psycopg2 connection to the benchmark database, outside Django, in a transaction."""
    conn = psycopg2.connect(**connection_params(os.environ["DATABASE_URL"]))
    conn.autocommit = False
    return conn
