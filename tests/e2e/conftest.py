"""Browser tests: Playwright driving Debian's Chromium against a live Django server on 127.0.0.1.

No browser is downloaded: `.ci/run` installs Debian's `chromium`, and Playwright launches it from
/usr/bin/chromium. A failing test leaves a screenshot under test-results/ (pytest-playwright's
``--screenshot only-on-failure``, set in pyproject.toml).
"""

from __future__ import annotations

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in the test thread; the Django ORM calls the tests make
# between browser steps are synchronous and safe there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("SERVICE_DESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("SERVICE_DESK_REQUIRE_REAL_SERVERS") == "1":
            pytest.fail(f"{message}; SERVICE_DESK_REQUIRE_REAL_SERVERS=1: CI must provide it")
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def page(page):
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def login(page, live_server):
    """Sign a user in through the real login form; returns a function taking (username, password)."""

    def sign_in(username: str, password: str = "pw") -> None:  # noqa: S107 - the factories' test password
        page.goto(f"{live_server.url}/desk/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/desk/")

    return sign_in
