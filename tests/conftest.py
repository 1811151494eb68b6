"""Test-wide setup: make sure the real PostgreSQL and Redis are there, and say clearly if not."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings


def _reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return host, port, True
    except OSError:
        return host, port, False


def pytest_configure(config: pytest.Config) -> None:
    database = settings.DATABASES["default"]
    problems = []
    if database["ENGINE"] != "django.db.backends.postgresql":
        problems.append(f"the tests need PostgreSQL, but DATABASE_URL points at {database['ENGINE']}")
    else:
        host, port = database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432)
        if not _reachable(f"postgres://{host}:{port}", 5432)[2]:
            problems.append(f"PostgreSQL is not reachable at {host}:{port} (set DATABASE_URL or start it)")
    host, port, ok = _reachable(settings.REDIS_URL, 6379)
    if not ok:
        problems.append(f"Redis is not reachable at {host}:{port} (set REDIS_URL or start it)")
    if problems:
        raise pytest.UsageError("Cannot run the tests: " + "; ".join(problems) + ".")
