"""Issue 7's story end to end in a real browser, clicked and typed as people would.

1. A visitor signs up in the portal, confirms the emailed link (asking for the password again) and is
   signed in; types a ticket subject, sees a suggested knowledge-base article, reads it, submits the
   request anyway with a description and a file, downloads the file, replies.
2. An agent (own browser context, the workspace login form) finds the ticket, sees the customer's
   messages and file, answers and solves it; the customer rates it "Good" with a comment and the
   agent sees the rating on the ticket's timeline.
3. A B2B contact allowed to see the organization's tickets follows a colleague's ticket; a colleague
   without that right and a contact of another organization get the not-found page for its URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import Contact
from tests import factories
from tests.integration import kb_support as kb
from tickets.choices import EventAction, Status
from tickets.models import Attachment, SatisfactionSurvey, Ticket, TicketEvent

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Blue kettle sings at 7"  # noqa: S105 - a sign-up password that passes Django's rules
NOT_FOUND = re.compile("not found", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _fresh_cache(settings, live_server):
    """Account-mail counters and the cached brand live in Redis: start every test without them."""
    from django.core.cache import cache

    settings.SITE_URL = live_server.url
    cache.clear()
    yield
    cache.clear()


def new_page(browser: Browser, contexts: list[BrowserContext]) -> Page:
    """A fresh browser context (own cookies: another person at another computer)."""
    context = browser.new_context()
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def other_people(browser):
    contexts: list[BrowserContext] = []
    yield lambda: new_page(browser, contexts)
    for context in contexts:
        context.close()


def portal_sign_in(page: Page, base_url: str, email: str, password: str = "pw") -> None:  # noqa: S107
    page.goto(f"{base_url}/portal/")
    page.get_by_role("banner").get_by_role("link", name="Sign in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/portal/tickets/")


def test_visitor_signs_up_asks_with_a_file_agent_solves_customer_rates(page, live_server, other_people, tmp_path):
    base = live_server.url
    lead = kb.publisher()
    article = kb.article(lead, en=("Reset your router", "Hold the reset button for ten seconds."))["en"]
    team = factories.team("Support")
    factories.agent(teams=[team], username="ana", first_name="Ana", last_name="Agent")
    log_file = tmp_path / "router-log.txt"
    log_file.write_text("14:02 WAN down\n14:03 WAN down\n")

    # 1. An anonymous visitor signs up from the portal's header and confirms the emailed link.
    page.goto(f"{base}/portal/")
    page.get_by_role("banner").get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", name="Sign up")).to_be_visible()
    page.get_by_label("Your name").fill("Mia Moss")
    page.get_by_label("Email address").fill("mia@consumer.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    assert [m.to for m in mail.outbox] == [["mia@consumer.example"]]
    link = re.search(r"https?://\S+/portal/verify/\S+", mail.outbox[0].body).group(0)
    assert link.startswith(base)
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    page.get_by_label("The password you chose").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(f"{base}/portal/tickets/")
    expect(page.get_by_role("status")).to_contain_text("Your address is confirmed")
    banner = page.get_by_role("banner")
    expect(banner.get_by_role("button", name="Log out")).to_be_visible()
    expect(banner.get_by_role("link", name="Sign in")).to_have_count(0)
    mia = Contact.objects.get(emails__email="mia@consumer.example")
    assert mia.user is not None and mia.user.is_active

    # 2. Submit a request: the subject suggests the article, which she reads in a new tab ...
    banner.get_by_role("link", name="Submit a request").click()
    expect(page.get_by_role("heading", name="Submit a request")).to_be_visible()
    page.get_by_label("Subject").press_sequentially("router keeps dropping, reset?", delay=20)
    suggestion = page.get_by_role("link", name="Reset your router")
    expect(suggestion).to_be_visible()
    expect(suggestion).to_have_attribute("href", re.compile(rf"/portal/kb/articles/{article.article_id}-"))
    expect(page.get_by_role("status").filter(has_text="might answer your question")).to_have_count(1)
    with page.context.expect_page() as article_tab_info:
        suggestion.click()
    article_tab = article_tab_info.value
    expect(article_tab.get_by_role("heading", name="Reset your router")).to_be_visible()
    expect(article_tab.get_by_text("Hold the reset button for ten seconds.")).to_be_visible()
    article_tab.close()

    # ... and submits the request anyway, with a description and a file.
    page.get_by_label("How can we help?").fill("Resetting did not help: the connection drops every hour.")
    page.get_by_label("Attachments").set_input_files(str(log_file))
    page.get_by_role("button", name="Submit request").click()
    heading = page.get_by_role("heading", name="router keeps dropping, reset?")
    expect(heading).to_be_visible()
    ticket = Ticket.objects.get()
    assert ticket.requester_id == mia.pk
    page.wait_for_url(f"{base}/portal/tickets/{ticket.reference}/")
    conversation = page.locator("ol.conversation")
    expect(conversation).to_contain_text("Resetting did not help")
    file_link = conversation.get_by_role("link", name="router-log.txt")
    expect(file_link).to_be_visible()

    # The file downloads as an attachment that the browser must not sniff.
    with page.expect_download() as download_info:
        file_link.click()
    download = download_info.value
    assert download.suggested_filename == "router-log.txt"
    assert Path(download.path()).read_text() == "14:02 WAN down\n14:03 WAN down\n"
    response = page.context.request.get(base + file_link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert Attachment.objects.filter(message__ticket=ticket, filename="router-log.txt").count() == 1

    # 3. She replies on the ticket page.
    page.get_by_label("Your reply").fill("It just dropped again at 15:02.")
    page.get_by_role("button", name="Send reply").click()
    expect(conversation).to_contain_text("It just dropped again at 15:02.")
    expect(conversation.locator("li.portal-message")).to_have_count(2)

    # 4. The agent signs in at the workspace in another browser, finds and solves the ticket.
    desk = other_people()
    desk.goto(f"{base}/desk/login/")
    desk.get_by_label("Username").fill("ana")
    desk.get_by_label("Password").fill("pw")
    desk.get_by_role("button", name="Log in").click()
    desk.wait_for_url(f"{base}/desk/")
    desk.get_by_role("link", name="All tickets").click()
    row = desk.locator("[data-ticket-row]").filter(has_text="router keeps dropping")
    expect(row).to_have_count(1)
    row.get_by_role("link", name=re.compile("router keeps dropping")).click()
    desk.wait_for_url(f"{base}/desk/tickets/{ticket.reference}/")
    desk.wait_for_function("window.ServiceDesk !== undefined")  # desk.js is deferred
    timeline = desk.locator("#timeline")
    expect(timeline).to_contain_text("Resetting did not help: the connection drops every hour.")
    expect(timeline).to_contain_text("It just dropped again at 15:02.")
    expect(timeline.get_by_role("link", name="router-log.txt")).to_be_visible()
    desk.locator("#id_reply-body").fill("We replaced a faulty line card; it should hold now.")
    desk.get_by_label("Then set status to").select_option(Status.SOLVED)
    desk.get_by_role("button", name="Send reply").click()
    expect(desk.locator(".flash")).to_contain_text("Reply sent")
    expect(desk.locator(".ticket-meta .status")).to_have_text("Solved")
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED

    # 5. Back at her browser: the answer, "Solved", and the rating form.
    page.reload()
    expect(conversation).to_contain_text("We replaced a faulty line card")
    expect(page.locator(".ticket-head .badge")).to_have_text("Solved")
    rating = page.get_by_test_id("csat-rating")
    expect(rating.get_by_role("heading", name="How did we do?")).to_be_visible()
    rating.get_by_label("Good").check()
    rating.get_by_label("Comment (optional)").fill("Quick and friendly, thanks Ana!")
    rating.get_by_role("button", name="Send my rating").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you for your rating.")
    expect(page.get_by_test_id("csat-rating")).to_contain_text("You rated this request: Good.")
    survey = SatisfactionSurvey.objects.get(ticket=ticket)
    assert (survey.rating, survey.comment) == ("good", "Quick and friendly, thanks Ana!")
    assert TicketEvent.objects.filter(ticket=ticket, action=EventAction.CSAT, new_value="good").count() == 1

    desk.reload()
    expect(desk.locator("#timeline")).to_contain_text("Mia Moss rated the ticket Good")
    expect(desk.get_by_text("Quick and friendly, thanks Ana!")).to_be_visible()  # sidebar: recent ratings


def test_b2b_contact_follows_a_colleagues_ticket_others_get_not_found(page, live_server, other_people):
    base = live_server.url
    acme = factories.organization("Acme", domains=("acme.example",))
    globex = factories.organization("Globex", domains=("globex.example",))
    carl = factories.contact(email="carl@acme.example", name="Carl Colleague", organization=acme)
    vpn = factories.ticket(requester=carl, subject="VPN drops every hour", body="Since Monday.")
    factories.ticket(requester=carl, subject="New laptop for Dana")
    bea = factories.contact(
        email="bea@acme.example", name="Bea Boss", organization=acme, can_see_organization_tickets=True
    )
    factories.customer_user(bea)
    factories.customer_user(factories.contact(email="wes@acme.example", name="Wes Worker", organization=acme))
    factories.customer_user(factories.contact(email="olga@globex.example", name="Olga Other", organization=globex))
    ticket_url = f"{base}/portal/tickets/{vpn.reference}/"

    # Bea may follow Acme's tickets: she finds Carl's in "Organization tickets" and opens it.
    portal_sign_in(page, base, "bea@acme.example")
    expect(page.get_by_text("There are no requests here yet.")).to_be_visible()  # none of her own
    page.get_by_role("banner").get_by_role("link", name="Organization tickets").click()
    expect(page.get_by_role("heading", name="Your organization's tickets")).to_be_visible()
    table = page.locator("table.portal-tickets")
    expect(table.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Requester").select_option(label="Carl Colleague")
    page.get_by_role("button", name="Filter").click()
    vpn_row = table.locator("tbody tr").filter(has_text="VPN drops every hour")
    expect(vpn_row).to_contain_text("Carl Colleague")
    vpn_row.get_by_role("link", name="VPN drops every hour").click()
    page.wait_for_url(ticket_url)
    expect(page.get_by_role("heading", name="VPN drops every hour")).to_be_visible()
    expect(page.locator(".ticket-head")).to_contain_text("Requested by Carl Colleague")
    expect(page.locator("ol.conversation")).to_contain_text("Since Monday.")

    # Wes is at Acme too but without that right; Olga is at Globex. Both get the not-found page.
    for email in ("wes@acme.example", "olga@globex.example"):
        other = other_people()
        portal_sign_in(other, base, email)
        expect(other.get_by_role("banner").get_by_role("link", name="Organization tickets")).to_have_count(0)
        response = other.goto(ticket_url)
        assert response.status == 404, email
        expect(other.locator("body")).to_contain_text(NOT_FOUND)
        assert "VPN drops every hour" not in other.content()
        assert "Since Monday" not in other.content()
        response = other.goto(f"{base}/portal/organization/tickets/")
        assert response.status == 404, email
