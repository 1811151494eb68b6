"""Settings read from the environment: the embedded default, PostgreSQL + Redis, and production guards.

Each case imports the settings in a fresh interpreter with a controlled environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k" * 20 + "-0123456789abcdefghijklmnopqrstuvwxyz"
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s;"
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']),"
    "'broker': s.CELERY_BROKER_URL, 'cache': s.CACHES['default']['BACKEND'], 'debug': s.DEBUG,"
    "'tz': s.TIME_ZONE, 'hosts': s.ALLOWED_HOSTS, 'from': s.DEFAULT_FROM_EMAIL}))"
)


def _run(module: str, env: dict[str, str], *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update({"DJANGO_SETTINGS_MODULE": module, "SERVICE_DESK_VAR_DIR": str(tmp_path / "var"), **env})
    command = [sys.executable, *args] if args else [sys.executable, "-c", PROBE]
    return subprocess.run(command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_with_nothing_set_the_default_needs_no_server(tmp_path):
    result = _run("service_desk.settings.dev", {}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "var" / "db.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["cache"].endswith("LocMemCache")
    assert values["debug"] is True
    assert (tmp_path / "var" / "celery" / "queue").is_dir()


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path):
    env = {
        "DATABASE_URL": "postgres://desk:pw@db.internal:5433/desk",
        "REDIS_URL": "redis://cache.internal:6380/2",
        "TIME_ZONE": "Europe/Berlin",
        "ALLOWED_HOSTS": "desk.example.com,www.desk.example.com",
        "DEFAULT_FROM_EMAIL": "Acme Support <support@acme.example>",
        "DEBUG": "false",
    }
    result = _run("service_desk.settings.dev", env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "desk"
    assert values["broker"] == "redis://cache.internal:6380/2"
    assert values["cache"].endswith("RedisCache")
    assert values["debug"] is False
    assert values["tz"] == "Europe/Berlin"
    assert values["hosts"] == ["desk.example.com", "www.desk.example.com"]
    assert values["from"] == "Acme Support <support@acme.example>"


def test_celery_broker_url_overrides_redis_url_for_the_broker(tmp_path):
    env = {"REDIS_URL": "redis://cache.internal:6379/0", "CELERY_BROKER_URL": "redis://broker.internal:6379/1"}
    values = json.loads(_run("service_desk.settings.dev", env, tmp_path=tmp_path).stdout.strip().splitlines()[-1])
    assert values["broker"] == "redis://broker.internal:6379/1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": GOOD_SECRET, "DEBUG": "true"}, "DEBUG must be off"),
        ({}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "insecure-dev-key-change-me"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
    ],
)
def test_production_refuses_debug_or_a_default_secret_key(tmp_path, env, message):
    result = _run("service_desk.settings.production", env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_pass_the_deployment_checklist(tmp_path):
    env = {
        "SECRET_KEY": GOOD_SECRET,
        "ALLOWED_HOSTS": "desk.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/service_desk",
    }
    result = _run(
        "service_desk.settings.production",
        env,
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
