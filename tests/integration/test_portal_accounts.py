"""Customer accounts of the portal: sign-up and verification, claiming a contact that wrote in before,
login and logout, password reset, the account page, and login throttling (django-axes) for the
portal, the workspace and the admin. Real PostgreSQL and Redis; mails through Django's locmem outbox.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Contact, ContactEmail
from tests import factories
from tickets.selectors import tickets_visible_to

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery 42"  # noqa: S105 - a test password that passes the password rules
User = get_user_model()


@pytest.fixture(autouse=True)
def _fresh_mail_limits():
    """The hourly mail limit counts in Redis, which outlives each test's database."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """client.post that also runs what the request queued after commit (the mails)."""

    def send(url: str, data: dict | None = None, **extra: object):  # noqa: ANN202
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {}, **extra)

    return send


def _sign_up(post, email: str, *, name: str = "Ann Example", password: str = PASSWORD):  # noqa: ANN202
    return post(reverse("portal:signup"), {"name": name, "email": email, "password1": password, "password2": password})


def _link(message) -> str:  # noqa: ANN001
    match = re.search(r"https?://[^/\s]+(/portal/\S+)", message.body)
    assert match, message.body
    return match.group(1)


def _login(client, identifier: str, password: str = PASSWORD, **extra: object):  # noqa: ANN202
    return client.post(reverse("portal:login"), {"username": identifier, "password": password}, **extra)


# --- Sign-up, verification, login ------------------------------------------------------------------


def test_sign_up_then_the_emailed_link_then_login(client, post):
    response = _sign_up(post, "Ann@Example.COM")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:signup_done")
    assert "ann@example.com" in client.get(response["Location"]).content.decode()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ann@example.com"]
    assert "Service Desk" in message.subject
    user = User.objects.get(email="ann@example.com")
    assert not user.is_active
    assert not Contact.objects.filter(user=user).exists()

    link = _link(message)
    page = client.get(link)
    assert page.status_code == 200
    assert "ann@example.com" in page.content.decode()
    user.refresh_from_db()
    assert not user.is_active, "following the link (a mail scanner) changes nothing"

    response = post(link, {"password": PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_active
    contact = Contact.objects.get(user=user)
    assert contact.name == "Ann Example"
    assert ContactEmail.objects.get(email="ann@example.com").verified_at is not None
    # Signed in by the verification.
    assert client.get(reverse("portal:account")).status_code == 200

    post(reverse("portal:logout"))
    assert client.get(reverse("portal:account")).status_code == 302
    response = _login(client, "ANN@example.com")
    assert response.status_code == 302
    assert client.get(reverse("portal:account")).status_code == 200

    # The link is single-use.
    client.logout()
    assert "confirmed already" in client.get(link).content.decode()
    response = post(link, {"password": PASSWORD})
    assert response.status_code == 400
    assert "confirmed already" in response.content.decode()


def test_an_unverified_sign_up_cannot_log_in(client, post):
    _sign_up(post, "ben@example.com")
    response = _login(client, "ben@example.com")
    assert response.status_code == 200
    assert "confirm your address first" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not Contact.objects.filter(user__email="ben@example.com").exists()


def test_the_verification_needs_the_password_chosen_at_sign_up(client, post):
    _sign_up(post, "cara@example.com")
    link = _link(mail.outbox[0])
    response = post(link, {"password": "somebody else's guess"})
    assert response.status_code == 200
    assert "not the password you chose" in response.content.decode()
    assert not User.objects.get(email="cara@example.com").is_active
    assert not Contact.objects.filter(emails__email="cara@example.com").exists()


def test_a_tampered_or_expired_link_is_refused(client, post, settings):
    _sign_up(post, "dan@example.com")
    link = _link(mail.outbox[0])
    assert client.get(link[:-3] + "xyz/").status_code == 400
    settings.PORTAL_SIGNUP_LINK_MAX_AGE = -1
    response = post(link, {"password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not User.objects.get(email="dan@example.com").is_active


def test_signing_up_again_replaces_the_waiting_sign_up_and_its_link(client, post):
    _sign_up(post, "eve@example.com", password=PASSWORD)
    _sign_up(post, "eve@example.com", name="Eve Again", password=PASSWORD + "!")
    assert User.objects.filter(email="eve@example.com").count() == 1
    first, second = _link(mail.outbox[0]), _link(mail.outbox[1])
    assert post(first, {"password": PASSWORD}).status_code == 400
    assert post(second, {"password": PASSWORD + "!"}).status_code == 302
    assert Contact.objects.get(emails__email="eve@example.com").name == "Eve Again"


def test_account_mails_to_one_address_are_limited_per_hour(client, post, settings):
    settings.PORTAL_ACCOUNT_MAILS_PER_HOUR = 2
    _sign_up(post, "flood@example.com", password=PASSWORD)
    _sign_up(post, "flood@example.com", password=PASSWORD + "2")
    response = _sign_up(post, "flood@example.com", password=PASSWORD + "3")
    assert response["Location"] == reverse("portal:signup_done"), "the same answer over the limit"
    assert len(mail.outbox) == 2
    # Over the limit the waiting sign-up is left alone: the last link mailed still works.
    assert post(_link(mail.outbox[1]), {"password": PASSWORD + "2"}).status_code == 302
    client.logout()
    post(reverse("portal:password_reset"), {"email": "flood@example.com"})
    assert len(mail.outbox) == 2


def test_sign_up_form_errors_are_shown_and_nothing_is_written(client, post):
    response = post(
        reverse("portal:signup"), {"name": "", "email": "not-an-address", "password1": "123", "password2": "124"}
    )
    assert response.status_code == 200
    assert User.objects.count() == 0
    assert mail.outbox == []


# --- Claiming a contact that wrote in before -------------------------------------------------------


def test_claiming_an_email_only_contact_shows_the_earlier_tickets_and_makes_no_second_contact(client, post):
    contact = factories.contact(email="fay@example.com", name="Fay From Email")
    earlier = factories.ticket(requester=contact, subject="Printer on fire")
    contacts_before = Contact.objects.count()

    _sign_up(post, "FAY@example.com", name="Fay Portal")
    contact.refresh_from_db()
    assert contact.user is None, "never attached before the address is proven"
    assert ContactEmail.objects.get(email="fay@example.com").verified_at is None

    post(_link(mail.outbox[0]), {"password": PASSWORD})
    contact.refresh_from_db()
    user = User.objects.get(email="fay@example.com")
    assert contact.user == user
    assert contact.name == "Fay From Email", "the desk's name for the contact is kept"
    assert Contact.objects.count() == contacts_before
    assert ContactEmail.objects.get(email="fay@example.com").verified_at is not None
    assert list(tickets_visible_to(user)) == [earlier]


def test_an_address_with_a_login_gets_the_same_answer_and_an_already_registered_mail(client, post):
    owner = factories.contact(email="gus@example.com")
    existing = factories.customer_user(owner)
    existing_password = existing.password

    fresh = _sign_up(post, "new-person@example.com")
    taken = _sign_up(post, "gus@example.com")
    assert taken.status_code == fresh.status_code == 302
    assert taken["Location"] == fresh["Location"]
    assert mail.outbox[1].to == ["gus@example.com"]
    assert "already have an account" in mail.outbox[1].body
    assert reverse("portal:password_reset") in mail.outbox[1].body
    assert User.objects.filter(email="gus@example.com").count() == 0
    existing.refresh_from_db()
    assert existing.password == existing_password
    owner.refresh_from_db()
    assert owner.user == existing


def test_an_agents_address_never_becomes_a_customer_login(client, post):
    agent = factories.agent(username="hal")  # hal@desk.example
    fresh = _sign_up(post, "someone-new@example.com")
    response = _sign_up(post, "HAL@desk.example")
    assert response["Location"] == fresh["Location"]
    assert User.objects.filter(email__iexact="hal@desk.example").count() == 1  # the agent only
    assert mail.outbox[1].to == ["hal@desk.example"]
    assert "staff account" in mail.outbox[1].body
    assert "/portal/verify/" not in mail.outbox[1].body

    # Even when the agent once wrote in as a contact with that address.
    contact = factories.contact(email="hal@desk.example")
    _sign_up(post, "hal@desk.example")
    contact.refresh_from_db()
    assert contact.user is None
    assert User.objects.filter(email__iexact="hal@desk.example").get() == agent


def test_an_address_taken_by_an_agent_after_sign_up_cannot_be_verified(client, post):
    _sign_up(post, "ida@example.com")
    link = _link(mail.outbox[0])
    agent = factories.agent(username="ida")
    agent.email = "ida@example.com"
    agent.save(update_fields=["email"])
    response = post(link, {"password": PASSWORD})
    assert response.status_code == 400
    assert "staff account" in response.content.decode()
    assert not Contact.objects.filter(emails__email="ida@example.com").exists()


# --- Login --------------------------------------------------------------------------------------------


def test_a_factory_customer_logs_in_with_the_contact_address_or_the_username(client):
    contact = factories.contact(email="jo@example.com")
    user = factories.customer_user(contact)
    assert _login(client, "jo@example.com", "pw").status_code == 302
    client.logout()
    assert _login(client, user.username, "pw").status_code == 302
    client.logout()
    assert _login(client, "jo@example.com", "wrong").status_code == 200


def test_an_agent_cannot_log_in_to_the_portal(client):
    factories.agent(username="kim")
    response = _login(client, "kim", "pw")
    assert response.status_code == 200
    assert "Staff sign in to the workspace" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/steal", "//evil.example/steal", "/\\evil.example", "http://testserver.evil.example/"],
)
def test_login_refuses_to_redirect_off_site(client, target):
    factories.customer_user(factories.contact(email="lea@example.com"))
    response = client.post(
        reverse("portal:login") + f"?next={target}", {"username": "lea@example.com", "password": "pw"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/")
    assert "evil" not in response["Location"]


def test_login_follows_a_next_path_on_this_site(client):
    factories.customer_user(factories.contact(email="max@example.com"))
    page = client.get(reverse("portal:login") + "?next=/portal/account/")
    assert 'name="next" value="/portal/account/"' in page.content.decode()
    response = client.post(
        reverse("portal:login"), {"username": "max@example.com", "password": "pw", "next": "/portal/account/"}
    )
    assert response["Location"] == "/portal/account/"


def test_logout_is_post_only(client):
    user = factories.customer_user(factories.contact())
    client.force_login(user)
    assert client.get(reverse("portal:logout")).status_code == 405
    assert client.post(reverse("portal:logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_navigation_offers_sign_in_or_the_account(client):
    page = client.get(reverse("portal:login")).content.decode()
    assert reverse("portal:signup") in page
    user = factories.customer_user(factories.contact(email="ned@example.com", name="Ned Flanders"))
    user.first_name = "Ned Flanders"
    user.save()
    client.force_login(user)
    page = client.get(reverse("portal:account")).content.decode()
    assert "Ned Flanders" in page
    assert reverse("portal:logout") in page


# --- Password reset ---------------------------------------------------------------------------------


def _verified_customer(email: str):  # noqa: ANN202
    contact = factories.contact(email=email)
    user = factories.customer_user(contact)
    ContactEmail.objects.filter(email=email).update(verified_at=timezone.now())
    return user


def test_password_reset_answers_alike_for_known_and_unknown_addresses(client, post):
    _verified_customer("olga@example.com")
    factories.agent(username="pat")  # pat@desk.example: staff, never mailed from the portal
    factories.customer_user(factories.contact(email="unproven@example.com"))  # address never verified

    responses = [
        post(reverse("portal:password_reset"), {"email": address})
        for address in ("Olga@Example.com", "nobody@example.com", "pat@desk.example", "unproven@example.com")
    ]
    assert {r.status_code for r in responses} == {302}
    assert {r["Location"] for r in responses} == {reverse("portal:password_reset_done")}
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["olga@example.com"]


def test_password_reset_link_sets_a_new_password(client, post):
    user = _verified_customer("quin@example.com")
    post(reverse("portal:password_reset"), {"email": "quin@example.com"})
    link = _link(mail.outbox[0])
    response = client.get(link)
    assert response.status_code == 302  # Django moves the token into the session
    form_url = response["Location"]
    response = post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert _login(client, "quin@example.com").status_code == 302


# --- Account page -----------------------------------------------------------------------------------


def test_account_page_changes_name_and_language_and_renders_in_it(client, post):
    contact = factories.contact(email="rita@example.com", name="Rita")
    user = factories.customer_user(contact)
    client.force_login(user)
    response = post(
        reverse("portal:account"), {"action": "profile", "profile-name": "Rita Meier", "profile-language": "de"}
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.language) == ("Rita Meier", "de")
    page = client.get(reverse("portal:account"))
    assert page["Content-Language"] == "de"
    assert '<html lang="de">' in page.content.decode()


def test_account_page_changes_the_password(client, post):
    user = factories.customer_user(factories.contact(email="sam@example.com"))
    client.force_login(user)
    bad = post(
        reverse("portal:account"),
        {
            "action": "password",
            "password-old_password": "nope",
            "password-new_password1": PASSWORD,
            "password-new_password2": PASSWORD,
        },
    )
    assert bad.status_code == 400
    good = post(
        reverse("portal:account"),
        {
            "action": "password",
            "password-old_password": "pw",
            "password-new_password1": PASSWORD,
            "password-new_password2": PASSWORD,
        },
    )
    assert good.status_code == 302
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert client.get(reverse("portal:account")).status_code == 200, "still signed in"


def test_account_page_is_for_customers_only(client):
    assert client.get(reverse("portal:account")).status_code == 302
    client.force_login(factories.agent())
    assert client.get(reverse("portal:account")).status_code == 404


# --- Login throttling (django-axes) -----------------------------------------------------------------


def test_lockout_after_repeated_failures_and_release_after_the_cool_off(client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    user = _verified_customer("tom@example.com")
    for attempt in range(4):
        assert _login(client, "tom@example.com", f"guess {attempt}").status_code == 200
    locked = _login(client, "tom@example.com", "guess 5")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 14 * 60
    assert "Try again in 15 minutes" in locked.content.decode()

    # Locked: even the right password is refused, and trying does not extend the lockout.
    attempt = AccessAttempt.objects.get(username=user.username)
    assert _login(client, "tom@example.com", "pw").status_code == 429
    assert _login(client, user.username, "pw").status_code == 429, "the username is the same account"
    assert AccessAttempt.objects.get(pk=attempt.pk).attempt_time == attempt.attempt_time

    # From another address the real user is not locked out at all.
    assert _login(client, "tom@example.com", "pw", REMOTE_ADDR="198.51.100.7").status_code == 302
    client.logout()

    # After the cool-off the real user gets in again, and the failures are forgotten.
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(client, "tom@example.com", "pw").status_code == 302
    assert not AccessAttempt.objects.filter(username=user.username).exists()


def test_guessing_unknown_addresses_is_throttled_too(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert _login(client, "ghost@example.com", "x").status_code == 200
    assert _login(client, "ghost@example.com", "x").status_code == 429


def test_a_password_reset_lifts_the_lockout(client, post, settings):
    settings.AXES_FAILURE_LIMIT = 2
    user = _verified_customer("uma@example.com")
    _login(client, "uma@example.com", "a")
    assert _login(client, "uma@example.com", "b").status_code == 429
    post(reverse("portal:password_reset"), {"email": "uma@example.com"})
    form_url = client.get(_link(mail.outbox[0]))["Location"]
    post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert not AccessAttempt.objects.filter(username=user.username).exists()
    assert _login(client, "uma@example.com").status_code == 302


def test_the_workspace_and_admin_logins_are_throttled(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    factories.agent(username="vic", role="admin")
    for _ in range(2):
        assert client.post(reverse("desk:login"), {"username": "vic", "password": "x"}).status_code == 200
    locked = client.post(reverse("desk:login"), {"username": "vic", "password": "x"})
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert client.post(reverse("desk:login"), {"username": "vic", "password": "pw"}).status_code == 429

    admin_login = reverse("admin:login")
    for _ in range(2):
        assert client.post(admin_login, {"username": "root", "password": "x"}).status_code == 200
    assert client.post(admin_login, {"username": "root", "password": "x"}).status_code == 429


def test_force_login_and_the_real_workspace_login_still_work(client):
    agent = factories.agent(username="wes")
    response = client.post(reverse("desk:login"), {"username": "wes", "password": "pw"})
    assert response.status_code == 302
    client.logout()
    client.force_login(agent)
    assert client.get(reverse("desk:home")).status_code == 200


def test_account_page_reads_in_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    contact = factories.contact(email="xena@example.com", extra_emails=["x2@example.com", "x3@example.com"])
    client.force_login(factories.customer_user(contact))
    # session, user, agent profile, contact (principal); the contact with its addresses; desk settings
    with django_assert_max_num_queries(8):
        response = client.get(reverse("portal:account"))
    assert response.status_code == 200
    assert "x3@example.com" in response.content.decode()


# --- Security review --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/portal/login/", "/portal/login/?next=/portal/login/", "/portal/login"])
def test_a_signed_in_customer_sent_back_to_the_login_page_is_not_a_500(client, target):
    """Django's LoginView raises ValueError ("Redirection loop") when ``next`` is the login page itself."""
    user = factories.customer_user(factories.contact(email="loop@example.com"))
    client.force_login(user)
    response = client.get(reverse("portal:login"), {"next": target})
    assert response.status_code == 302
    assert not response["Location"].startswith(reverse("portal:login"))


def test_the_verification_mail_carries_no_text_chosen_by_whoever_signed_up(client, post):
    """Anybody can sign up with anybody's address: the name they type must not reach that inbox in our
    mail (it would be phishing text sent from the desk's own address)."""
    _sign_up(post, "victim@example.com", name="URGENT visit https://evil.example/login to keep your account")
    (message,) = mail.outbox
    assert "evil.example" not in message.body and "URGENT" not in message.body
    assert "evil.example" not in message.subject


def test_login_and_verification_give_a_new_session_key(client, post):
    """No session fixation: a session the visitor had before signing in is not the signed-in one."""
    factories.customer_user(factories.contact(email="fix@example.com"))
    session = client.session
    session["planted"] = "1"
    session.save()
    before = session.session_key
    assert _login(client, "fix@example.com", "pw").status_code == 302
    assert client.session.session_key != before
    client.logout()
    _sign_up(post, "fresh@example.com")
    before = client.session.session_key
    assert post(_link(mail.outbox[-1]), {"password": PASSWORD}).status_code == 302
    assert client.session.session_key != before and "_auth_user_id" in client.session


def test_every_account_form_needs_the_csrf_token():
    from django.test import Client

    user = factories.customer_user(factories.contact(email="csrf@example.com"))
    browser = Client(enforce_csrf_checks=True)
    for name in ("login", "signup", "password_reset"):
        assert (
            browser.post(reverse(f"portal:{name}"), {"username": "csrf@example.com", "password": "pw"}).status_code
            == 403
        )
    browser.force_login(user)
    assert browser.post(reverse("portal:logout")).status_code == 403
    response = browser.post(
        reverse("portal:account"), {"action": "profile", "profile-name": "X", "profile-language": "de"}
    )
    assert response.status_code == 403
    assert browser.post(reverse("portal:verify_email", args=["x"]), {"password": "pw"}).status_code == 403


def test_password_reset_does_the_same_work_in_the_request_for_known_and_unknown_addresses(
    client, django_capture_on_commit_callbacks
):
    """No enumeration by timing: the request only queues one task whatever the address; the task (in
    the outbound queue) finds the account and sends the mail, in the language of the page."""
    _verified_customer("vera@example.com")
    work = {}
    for address in ("vera@example.com", "nobody@example.com"):
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(reverse("portal:password_reset"), {"email": address}, HTTP_ACCEPT_LANGUAGE="de")
        assert response.status_code == 302
        work[address] = (len(callbacks), len(mail.outbox))
        for callback in callbacks:
            callback()
        if address == "vera@example.com":
            assert [m.to for m in mail.outbox] == [["vera@example.com"]]
            assert "Passwort" in mail.outbox[0].subject
        else:
            assert mail.outbox == []
    assert work["vera@example.com"] == work["nobody@example.com"] == (1, 0)


def test_guessing_the_password_on_a_verification_link_is_limited(client, post, settings):
    """A leaked link (forwarded mail, a scanner's log) must not allow unlimited password guesses: after
    LOGIN_FAILURE_LIMIT wrong ones the link is dead, even for the right password; signing up again helps."""
    settings.AXES_FAILURE_LIMIT = 3
    _sign_up(post, "gia@example.com")
    link = _link(mail.outbox[-1])
    for guess in ("a1", "b2", "c3"):
        assert post(link, {"password": guess}).status_code == 200
    response = post(link, {"password": PASSWORD})
    assert response.status_code == 400 and "Too many wrong passwords" in response.content.decode()
    assert not User.objects.get(email="gia@example.com").is_active
    _sign_up(post, "gia@example.com")
    assert post(_link(mail.outbox[-1]), {"password": PASSWORD}).status_code == 302
    assert User.objects.get(email="gia@example.com").is_active


def test_guessing_the_current_password_on_the_account_page_is_throttled_like_the_login(client, settings):
    """A borrowed or stolen session must not allow unlimited guesses of the password itself."""
    settings.AXES_FAILURE_LIMIT = 2
    user = factories.customer_user(factories.contact(email="tom@example.com"))
    client.force_login(user)

    def change(old: str):  # noqa: ANN202
        return client.post(
            reverse("portal:account"),
            {
                "action": "password",
                "password-old_password": old,
                "password-new_password1": PASSWORD,
                "password-new_password2": PASSWORD,
            },
        )

    assert change("guess-1").status_code == 400
    assert change("guess-2").status_code == 429  # the limit reached: locked, as at the login
    assert change("pw").status_code == 429  # even the right password, until the cool-off
    user.refresh_from_db()
    assert user.check_password("pw")
    assert AccessAttempt.objects.filter(username=user.username).exists()
