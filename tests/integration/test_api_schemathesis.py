"""Schema-based fuzzing of the whole API (schemathesis 4) against the live schema, with an admin's token
against the test database: no operation may answer 5xx, for valid (positive) or invalid (negative) input;
then valid input with a B2B customer's token. Every 4xx must be in the API's error format."""

from __future__ import annotations

import time

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

from service_desk.wsgi import application
from tests.integration.api_support import World, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    return make_world(settings)


EXAMPLES = 12
CUSTOMER_EXAMPLES = 6
BUDGET_SECONDS = 100


@pytest.fixture
def keep_test_connection():
    """The WSGI handler closes "obsolete" connections after each request, which would close the test's
    transaction; Django's own test client disconnects the same signal."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _fuzz(operation, mode: GenerationMode, headers: dict, failures: list[str], examples: int = EXAMPLES) -> None:  # noqa: ANN001
    """Run ``examples`` generated requests against one operation; 5xx answers are collected."""

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    def run(case) -> None:  # noqa: ANN001
        response = case.call()
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {mode.value} -> {response.status_code}: "
                f"query={case.query} body={str(case.body)[:300]} answer={response.text[:300]}"
            )
        elif response.status_code >= 400:
            # Every error, whatever the input, in the one format.
            try:
                body = response.json()
            except ValueError:
                body = response.text[:200]
            assert isinstance(body, dict), (case.method, case.formatted_path, body)
            assert set(body) == {"error"}, (case.method, case.formatted_path, body)
            assert {"code", "message", "fields"} <= set(body["error"])

    run()


def test_no_operation_answers_a_server_error(world, keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    headers = {"Authorization": f"Token {world.tokens['admin']}"}
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(result.ok(), mode, headers, failures)
    # A customer's token takes other paths (portal rules, refused fields): valid input only, fewer examples.
    customer = {"Authorization": f"Token {world.tokens['b2b_rights']}"}
    for result in schema.get_all_operations():
        _fuzz(result.ok(), GenerationMode.POSITIVE, customer, failures, examples=CUSTOMER_EXAMPLES)
    elapsed = time.monotonic() - started
    assert operations >= 15
    assert not failures, "\n".join(failures[:20])
    assert elapsed < BUDGET_SECONDS * 2
