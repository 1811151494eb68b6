"""An agent works in volume in a real browser: the bulk bar's selection, "all matching", htmx fields, progress."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tickets import bulk
from tickets.choices import Priority
from tickets.models import BulkJob, BulkJobState, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def test_agent_selects_all_matching_and_changes_them_in_one_go(page, live_server, login):
    team = factories.team("Support")
    factories.agent(teams=[team], username="ana")
    for i in range(52):
        factories.ticket(subject=f"Password reset {i}", team=team)
    login("ana")
    page.get_by_role("link", name="All tickets").click()
    rows = page.locator("[data-ticket-row]")
    expect(rows).to_have_count(50)
    bar = page.locator("#bulk-form")
    expect(bar.locator("[data-bulk-selected]")).to_have_text("No tickets selected")
    expect(bar.locator("[data-bulk-all]")).to_be_hidden()

    rows.nth(0).locator("input[type=checkbox]").check()
    rows.nth(1).locator("input[type=checkbox]").check()
    expect(bar.locator("[data-bulk-selected]")).to_have_text("2 selected")

    page.get_by_label("Select all on this page").check()
    expect(bar.locator("[data-bulk-selected]")).to_have_text("50 selected")
    all_matching = bar.get_by_label("Select all 52 tickets matching this list")
    expect(all_matching).to_be_visible()  # the count came from the server when the offer appeared
    all_matching.check()
    expect(bar.locator("[data-bulk-selected]")).to_have_text("All tickets matching this list selected")

    bar.get_by_label("Action").select_option("priority")
    bar.get_by_label("New priority").select_option("high")  # loaded into the bar by htmx
    bar.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Set priority to High")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Done: 52 of 52 tickets processed.")
    assert Ticket.objects.filter(priority=Priority.HIGH).count() == 52


def test_progress_page_updates_itself_until_the_job_is_done(page, live_server, login):
    team = factories.team("Support")
    agent = factories.agent(teams=[team], username="ana")
    tickets = [factories.ticket(team=team) for _ in range(3)]
    job = BulkJob.objects.create(
        created_by=agent, action="priority", params={"priority": "low"}, ticket_ids=[t.pk for t in tickets], total=3
    )
    login("ana")
    page.goto(f"{live_server.url}/desk/bulk/{job.pk}/")
    expect(page.get_by_role("status")).to_contain_text("Waiting to start")
    bulk.bulk_job_run(job.pk)  # the worker runs it meanwhile
    assert BulkJob.objects.get(pk=job.pk).state == BulkJobState.DONE
    # No reload: htmx polls every second and swaps the progress in.
    expect(page.get_by_role("status")).to_contain_text("Done: 3 of 3 tickets processed.", timeout=5_000)
    expect(page.locator("progress")).to_have_attribute("value", "3")


def test_agent_bulk_assigns_fifty_tickets_to_herself_and_sees_the_progress(page, live_server, login):
    team = factories.team("Support")
    ana = factories.agent(teams=[team], username="ana", first_name="Ana")
    for i in range(50):
        factories.ticket(subject=f"Where is my parcel {i}", team=team)
    login("ana")
    page.get_by_role("link", name="Unassigned").click()
    rows = page.locator("[data-ticket-row]")
    expect(rows).to_have_count(50)
    page.get_by_label("Select all on this page").check()
    bar = page.locator("#bulk-form")
    expect(bar.locator("[data-bulk-selected]")).to_have_text("50 selected")
    bar.get_by_label("Action").select_option("assign")
    bar.get_by_label("Assign to").select_option("me")
    bar.get_by_role("button", name="Apply").click()
    expect(page.locator("progress")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Done: 50 of 50 tickets processed.")
    expect(page.locator("progress")).to_have_attribute("value", "50")
    assert Ticket.objects.filter(assignee=ana).count() == 50
    page.goto(f"{live_server.url}/desk/")
    expect(page.get_by_test_id("count-mine")).to_have_text("50")
