"""Portal accounts in a real browser: a person who wrote in by email signs up, confirms the emailed
link, sees their earlier ticket, logs out and signs in again through the login form."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Contact
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery 42"  # noqa: S105 - passes the password rules


@pytest.fixture(autouse=True)
def _fresh_mail_limits():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_email_contact_signs_up_confirms_and_signs_in_again(page, live_server):
    contact = factories.contact(email="zoe@example.com", name="Zoe Writer")
    factories.ticket(requester=contact, subject="Router keeps rebooting")

    page.goto(f"{live_server.url}/portal/signup/")
    page.get_by_label("Your name").fill("Zoe")
    page.get_by_label("Email address").fill("Zoe@Example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+(/portal/verify/\S+)", mail.outbox[0].body).group(1)
    page.goto(f"{live_server.url}{link}")
    page.get_by_label("The password you chose").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(re.compile(r"/portal/"))
    expect(page.get_by_text("Your address is confirmed")).to_be_visible()
    contact.refresh_from_db()
    assert contact.user is not None
    assert Contact.objects.count() == 1

    page.goto(f"{live_server.url}/portal/tickets/")
    expect(page.get_by_text("Router keeps rebooting")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/portal/login/")
    page.get_by_label("Email address").fill("zoe@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/portal/tickets/")
    expect(page.get_by_text("Router keeps rebooting")).to_be_visible()


def test_factory_customer_signs_in_through_the_login_form(page, live_server):
    factories.customer_user(factories.contact(email="yan@example.com"))
    page.goto(f"{live_server.url}/portal/account/")
    page.wait_for_url(re.compile(r"/portal/login/\?next="))
    page.get_by_label("Email address").fill("yan@example.com")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/portal/account/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
