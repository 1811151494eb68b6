"""A customer never sees another customer's ticket, message, attachment or organization in the portal.

Each way in is tried (the ticket page by reference and by guessed number, reply / solve / reopen
posts, attachment URLs, follow-up links, the lists and their filters) for three outsiders:
(a) a B2C customer, (b) a B2B contact of the same organization without organization rights,
(c) a contact (with organization rights) of another organization. The positive case: a B2B contact
with rights sees and answers a colleague's ticket. Internal notes never reach the portal's HTML,
and agents and anonymous visitors get nothing from these routes.
"""

from __future__ import annotations

import html
import re
import secrets

import pytest
from django.urls import reverse

from tests import factories
from tickets import services
from tickets.choices import Status
from tickets.models import Message, Ticket
from tickets.services import Actor, NewAttachment

pytestmark = pytest.mark.django_db

NOTE = "INTERNAL-NOTE-do-not-show"
NOTE_FILE = "internal-only.txt"


def fresh_nonce() -> str:
    return secrets.token_urlsafe(24)


def text(response) -> str:
    """The page as a reader sees it (entities decoded, so "Cora's" matches "Cora&#x27;s")."""
    return html.unescape(response.content.decode())


@pytest.fixture
def world():
    agent = factories.agent(username="agnes")
    acme = factories.organization("Acme")
    globex = factories.organization("Globex")
    b2c_owner = factories.contact(name="Olga Owner", email="olga@consumer.example")
    colleague = factories.contact(name="Cora Colleague", email="cora@acme.example", organization=acme)
    acme_plain = factories.contact(name="Paul Plain", email="paul@acme.example", organization=acme)
    acme_boss = factories.contact(
        name="Bea Boss", email="bea@acme.example", organization=acme, can_see_organization_tickets=True
    )
    b2c_other = factories.contact(name="Xavier Consumer", email="xavier@consumer.example")
    globex_boss = factories.contact(
        name="Gus Globex", email="gus@globex.example", organization=globex, can_see_organization_tickets=True
    )

    def ticket_with_files(requester, subject):
        ticket = factories.ticket(requester=requester, subject=subject, body=f"Body of {subject}")
        reply = services.ticket_reply(
            ticket=ticket,
            by=Actor.agent(agent),
            body_text=f"Public answer on {subject}",
            attachments=[NewAttachment("public.txt", b"public file")],
        )
        note = services.ticket_add_note(
            ticket=ticket,
            by=Actor.agent(agent),
            body_text=f"{NOTE} {subject}",
            attachments=[NewAttachment(NOTE_FILE, b"secret file")],
        )
        return ticket, reply.attachments.get(), note.attachments.get()

    b2c_ticket, b2c_file, b2c_note_file = ticket_with_files(b2c_owner, "Olga's private matter")
    colleague_ticket, colleague_file, colleague_note_file = ticket_with_files(colleague, "Cora's laptop")
    return {
        "agent": agent,
        "acme": acme,
        "globex": globex,
        "b2c_owner": factories.customer_user(b2c_owner),
        "colleague": colleague,
        "colleague_user": factories.customer_user(colleague),
        "acme_plain": factories.customer_user(acme_plain),
        "acme_boss": factories.customer_user(acme_boss),
        "b2c_other": factories.customer_user(b2c_other),
        "globex_boss": factories.customer_user(globex_boss),
        "b2c_ticket": b2c_ticket,
        "b2c_file": b2c_file,
        "b2c_note_file": b2c_note_file,
        "colleague_ticket": colleague_ticket,
        "colleague_file": colleague_file,
        "colleague_note_file": colleague_note_file,
    }


OUTSIDERS = ["b2c_other", "acme_plain", "globex_boss"]
TARGETS = [("b2c_ticket", "b2c_file"), ("colleague_ticket", "colleague_file")]


def _snapshot(ticket: Ticket) -> tuple:
    ticket.refresh_from_db()
    return ticket.status, ticket.updated_at, Message.objects.filter(ticket=ticket).count()


@pytest.mark.parametrize("outsider", OUTSIDERS)
@pytest.mark.parametrize(("target", "file_key"), TARGETS)
def test_outsiders_get_404_on_every_route_of_a_foreign_ticket(client, world, outsider, target, file_key):
    ticket = world[target]
    before = _snapshot(ticket)
    client.force_login(world[outsider])
    for ref in (ticket.reference, ticket.reference.lower(), str(ticket.pk)):
        assert client.get(reverse("portal:ticket", args=[ref])).status_code == 404
        assert (
            client.post(
                reverse("portal:ticket_reply", args=[ref]), {"nonce": fresh_nonce(), "body": "Let me in"}
            ).status_code
            == 404
        )
        assert client.post(reverse("portal:ticket_close", args=[ref])).status_code == 404
        assert client.post(reverse("portal:ticket_reopen", args=[ref])).status_code == 404
    for key in (file_key, file_key.replace("_file", "_note_file")):
        assert client.get(reverse("portal:attachment", args=[world[key].pk])).status_code == 404
    assert client.get(reverse("portal:ticket_new"), {"follow_up": ticket.reference}).status_code == 404
    response = client.post(
        reverse("portal:ticket_new"),
        {"nonce": "n" * 32, "follow_up": ticket.reference, "subject": "Link me", "description": "In."},
    )
    assert response.status_code == 404
    assert not Ticket.objects.filter(subject="Link me").exists()
    assert _snapshot(ticket) == before


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_lists_never_show_foreign_tickets(client, world, outsider):
    client.force_login(world[outsider])
    mine = text(client.get(reverse("portal:tickets")))
    for subject in ("Olga's private matter", "Cora's laptop"):
        assert subject not in mine
    for status in ("open", "solved", "closed"):
        assert "Cora's laptop" not in text(client.get(reverse("portal:tickets"), {"status": status}))


@pytest.mark.parametrize("outsider", ["b2c_other", "acme_plain"])
def test_organization_list_is_404_without_organization_rights(client, world, outsider):
    client.force_login(world[outsider])
    assert client.get(reverse("portal:organization_tickets")).status_code == 404
    assert reverse("portal:organization_tickets") not in text(client.get(reverse("portal:tickets")))


def test_contact_of_another_organization_never_sees_it_in_the_organization_list(client, world):
    client.force_login(world["globex_boss"])
    url = reverse("portal:organization_tickets")
    response = client.get(url)
    assert response.status_code == 200
    assert "Cora's laptop" not in text(response) and "Cora Colleague" not in text(response)
    # Filtering by a contact of Acme is an invalid choice, not a way in.
    filtered = client.get(url, {"requester": world["colleague"].pk})
    assert "Cora's laptop" not in text(filtered) and "Acme" not in text(filtered)


def test_contact_with_rights_sees_and_answers_a_colleagues_ticket(client, world):
    ticket = world["colleague_ticket"]
    client.force_login(world["acme_boss"])
    listing = client.get(reverse("portal:organization_tickets"), {"requester": world["colleague"].pk})
    assert "Cora's laptop" in text(listing)
    assert "Olga's private matter" not in text(client.get(reverse("portal:organization_tickets")))
    page = client.get(reverse("portal:ticket", args=[ticket.reference]))
    assert page.status_code == 200
    assert "Public answer on Cora's laptop" in text(page) and NOTE not in text(page)
    assert client.get(reverse("portal:attachment", args=[world["colleague_file"].pk])).status_code == 200
    assert client.get(reverse("portal:attachment", args=[world["colleague_note_file"].pk])).status_code == 404
    response = client.post(
        reverse("portal:ticket_reply", args=[ticket.reference]),
        {"nonce": fresh_nonce(), "body": "Cora is out; I follow"},
    )
    assert response.status_code == 302
    reply = Message.objects.filter(ticket=ticket).latest("id")
    assert reply.body_text == "Cora is out; I follow" and reply.author_contact.name == "Bea Boss"
    # The rights do not reach another organization or a B2C ticket.
    assert client.get(reverse("portal:ticket", args=[world["b2c_ticket"].reference])).status_code == 404
    assert client.get(reverse("portal:attachment", args=[world["b2c_file"].pk])).status_code == 404


def test_requester_sees_public_conversation_and_files_but_never_internal_notes(client, world):
    client.force_login(world["b2c_owner"])
    ticket = world["b2c_ticket"]
    page = text(client.get(reverse("portal:ticket", args=[ticket.reference])))
    assert "Public answer on Olga's private matter" in page
    assert NOTE not in page and NOTE_FILE not in page
    assert reverse("portal:attachment", args=[world["b2c_note_file"].pk]) not in page
    assert client.get(reverse("portal:attachment", args=[world["b2c_file"].pk])).status_code == 200
    assert client.get(reverse("portal:attachment", args=[world["b2c_note_file"].pk])).status_code == 404
    assert NOTE not in text(client.get(reverse("portal:tickets")))


def test_requester_of_a_colleagues_ticket_is_not_a_colleague_without_rights(client, world):
    """Cora (no rights) sees her own ticket, not another Acme contact's."""
    boss_ticket = factories.ticket(requester=world["acme_boss"].contact, subject="Bea's budget")
    client.force_login(world["colleague_user"])
    assert client.get(reverse("portal:ticket", args=[world["colleague_ticket"].reference])).status_code == 200
    assert client.get(reverse("portal:ticket", args=[boss_ticket.reference])).status_code == 404


def test_unknown_and_malformed_references_are_404(client, world):
    client.force_login(world["b2c_owner"])
    for ref in ("SD-999999999", "SD-999999999999999999", "9" * 40, "XX-1", "0", "-1", "SD-", "%00", "SD-1' OR '1'='1"):
        assert client.get(reverse("portal:ticket", args=[ref])).status_code == 404
    assert client.get("/portal/attachments/999999999/").status_code == 404


def test_agents_get_404_on_portal_ticket_routes(client, world):
    client.force_login(world["agent"])
    ticket = world["b2c_ticket"]
    before = _snapshot(ticket)
    for url in (
        reverse("portal:tickets"),
        reverse("portal:organization_tickets"),
        reverse("portal:ticket_new"),
        reverse("portal:ticket", args=[ticket.reference]),
        reverse("portal:attachment", args=[world["b2c_file"].pk]),
    ):
        assert client.get(url).status_code == 404
    for name in ("ticket_reply", "ticket_close", "ticket_reopen"):
        assert client.post(reverse(f"portal:{name}", args=[ticket.reference]), {"body": "x"}).status_code == 404
    assert _snapshot(ticket) == before


def test_anonymous_visitors_are_sent_to_the_portal_login(client, world):
    ticket = world["b2c_ticket"]
    before = _snapshot(ticket)
    login = reverse("portal:login")
    for url in (
        reverse("portal:tickets"),
        reverse("portal:organization_tickets"),
        reverse("portal:ticket_new"),
        reverse("portal:ticket", args=[ticket.reference]),
        reverse("portal:attachment", args=[world["b2c_file"].pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login)
    for name in ("ticket_reply", "ticket_close", "ticket_reopen"):
        response = client.post(reverse(f"portal:{name}", args=[ticket.reference]), {"body": "x"})
        assert response.status_code == 302 and response["Location"].startswith(login)
    assert _snapshot(ticket) == before
    nav = text(client.get(login))
    assert reverse("portal:tickets") not in nav and reverse("portal:ticket_new") not in nav


def test_a_solved_foreign_ticket_cannot_be_reopened_by_guessing(client, world):
    ticket = world["colleague_ticket"]
    services.ticket_change_status(ticket=ticket, by=Actor.agent(world["agent"]), status=Status.SOLVED)
    client.force_login(world["acme_plain"])
    assert client.post(reverse("portal:ticket_reopen", args=[ticket.reference])).status_code == 404
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED


# --- Security review (portal accounts and tickets) ------------------------------------------------


@pytest.mark.parametrize("ref", ["²", "SD-²", "¹²", "①", "SD-99999999999999999999", "99999999999999999999", "SD-0"])
def test_unicode_digit_and_out_of_range_references_are_404_not_500(client, world, ref):
    """``"²".isdigit()`` is true but ``int("²")`` fails: such a reference must be a 404 on every route."""
    client.force_login(world["b2c_owner"])
    assert client.get(reverse("portal:ticket", args=[ref])).status_code == 404
    for name in ("ticket_reply", "ticket_close", "ticket_reopen"):
        response = client.post(reverse(f"portal:{name}", args=[ref]), {"nonce": fresh_nonce(), "body": "x"})
        assert response.status_code == 404
    assert client.get(reverse("portal:ticket_new"), {"follow_up": ref}).status_code == 404


def test_a_removed_cc_loses_the_ticket_and_its_files(client, world):
    ticket, public_file = world["b2c_ticket"], world["b2c_file"]
    outsider = world["b2c_other"]
    services.ticket_update_cc(ticket=ticket, by=Actor.agent(world["agent"]), add=[outsider.contact])
    client.force_login(outsider)
    assert client.get(reverse("portal:ticket", args=[ticket.reference])).status_code == 200
    assert client.get(reverse("portal:attachment", args=[public_file.pk])).status_code == 200
    services.ticket_update_cc(ticket=ticket, by=Actor.agent(world["agent"]), remove=[outsider.contact])
    assert client.get(reverse("portal:ticket", args=[ticket.reference])).status_code == 404
    assert client.get(reverse("portal:attachment", args=[public_file.pk])).status_code == 404
    assert "Olga's private matter" not in text(client.get(reverse("portal:tickets")))


def test_organization_rights_turned_off_or_a_move_to_another_organization_take_effect_at_once(client, world):
    boss = world["acme_boss"]
    client.force_login(boss)
    colleague_ticket = world["colleague_ticket"]
    assert client.get(reverse("portal:ticket", args=[colleague_ticket.reference])).status_code == 200
    contact = boss.contact
    contact.can_see_organization_tickets = False
    contact.save(update_fields=["can_see_organization_tickets"])
    assert client.get(reverse("portal:ticket", args=[colleague_ticket.reference])).status_code == 404
    assert client.get(reverse("portal:organization_tickets")).status_code == 404
    assert client.get(reverse("portal:attachment", args=[world["colleague_file"].pk])).status_code == 404
    # Rights back on, but the contact moves to Globex: Acme's tickets are gone, Globex's are not shown as Acme's.
    contact.can_see_organization_tickets = True
    contact.organization = world["globex"]
    contact.save(update_fields=["can_see_organization_tickets", "organization"])
    assert client.get(reverse("portal:ticket", args=[colleague_ticket.reference])).status_code == 404
    assert "Cora's laptop" not in text(client.get(reverse("portal:organization_tickets")))


def test_a_merged_away_ticket_shows_no_foreign_conversation(client, world):
    """Olga's ticket merged into Cora's: Olga becomes a CC of the target (the desk's merge rule) and sees it;
    Xavier, who had nothing to do with either, sees neither and none of the moved files."""
    source, target = world["b2c_ticket"], world["colleague_ticket"]
    services.ticket_merge(source=source, target=target, by=Actor.agent(world["agent"]))
    client.force_login(world["b2c_other"])
    for ticket in (source, target):
        assert client.get(reverse("portal:ticket", args=[ticket.reference])).status_code == 404
    assert client.get(reverse("portal:attachment", args=[world["b2c_file"].pk])).status_code == 404
    client.force_login(world["b2c_owner"])
    page = text(client.get(reverse("portal:ticket", args=[source.reference])))
    assert NOTE not in page
    target_page = text(client.get(reverse("portal:ticket", args=[target.reference])))
    assert NOTE not in target_page and NOTE_FILE not in target_page
    assert client.get(reverse("portal:attachment", args=[world["b2c_note_file"].pk])).status_code == 404
    assert client.get(reverse("portal:attachment", args=[world["colleague_note_file"].pk])).status_code == 404


def test_organization_requester_filter_offers_a_bounded_list_and_refuses_outsiders(client, world):
    from tickets.models import Ticket as TicketModel

    acme = world["acme"]
    for n in range(230):
        factories.contact(name=f"Quiet {n:03}", email=f"quiet{n}@acme.example", organization=acme)
    client.force_login(world["acme_boss"])
    url = reverse("portal:organization_tickets")
    page = client.get(url)
    options = re.findall(r"<option ", page.content.decode())
    # Only people who asked something are offered (Cora), plus "Everyone" and the status choices.
    assert len(options) < 20
    assert "Quiet 000" not in text(page) and "Cora Colleague" in text(page)
    # A contact of another organization, or nonsense, is an error shown on the form: a 400, nothing listed.
    for value in (world["globex_boss"].contact.pk, "abc", "99999999999999999999", "²"):
        response = client.get(url, {"requester": value})
        assert response.status_code == 400
        assert "Cora's laptop" not in text(response)
    assert TicketModel.objects.filter(organization=acme).exists()
    # Anybody of the organization can still be chosen by a link, and stays selected on that page.
    quiet = acme.contacts.get(name="Quiet 229")
    chosen = client.get(url, {"requester": quiet.pk})
    assert chosen.status_code == 200 and chosen.context["tickets"] == []
    assert f'<option value="{quiet.pk}" selected>' in chosen.content.decode()
    by_cora = client.get(url, {"requester": world["colleague"].pk})
    assert f'<option value="{world["colleague"].pk}" selected>' in by_cora.content.decode()


def test_download_names_are_made_safe_again_on_the_way_out(client, world):
    """Names are cleaned when files are stored; a row written another way (an import, an old version)
    still never puts a bidi override, a line break or a path into the download's name."""
    from tickets.models import Attachment

    attachment = world["b2c_file"]
    Attachment.objects.filter(pk=attachment.pk).update(filename='..\\evil\r\n"invoice\u202efdp.exe')
    client.force_login(world["b2c_owner"])
    response = client.get(reverse("portal:attachment", args=[attachment.pk]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    for bad in ("\u202e", "%E2%80%AE", "\r", "\n", "%0D", "%0A", "evil\\", ".."):
        assert bad not in disposition, (bad, disposition)
    page = text(client.get(reverse("portal:ticket", args=[world["b2c_ticket"].reference])))
    assert "\u202e" not in page


def test_calls_meetings_and_system_messages_never_reach_the_portal(client, world):
    from tickets.choices import MessageKind

    ticket = world["b2c_ticket"]
    agent = Actor.agent(world["agent"])
    services.ticket_log_interaction(ticket=ticket, by=agent, kind=MessageKind.PHONE_CALL, body_text="CALL-SECRET")
    services.ticket_log_interaction(ticket=ticket, by=agent, kind=MessageKind.MEETING, body_text="MEETING-SECRET")
    Message.objects.create(
        ticket=ticket,
        kind=MessageKind.SYSTEM,
        channel=ticket.channel,
        body_text="SYSTEM-SECRET",
        quoted_text="QUOTE-SECRET",
        created_at=ticket.created_at,
    )
    client.force_login(world["b2c_owner"])
    page = client.get(reverse("portal:ticket", args=[ticket.reference])).content.decode()
    for secret in ("CALL-SECRET", "MEETING-SECRET", "SYSTEM-SECRET", "QUOTE-SECRET", NOTE, "<!--"):
        assert secret not in page


def test_private_portal_pages_are_never_stored_by_browsers_or_proxies(client, world):
    """After signing out on a shared computer, Back must not show the requests from the browser's cache."""
    client.force_login(world["acme_boss"])
    ticket = world["colleague_ticket"]
    responses = [
        client.get(reverse("portal:tickets")),
        client.get(reverse("portal:organization_tickets")),
        client.get(reverse("portal:ticket_new")),
        client.get(reverse("portal:ticket", args=[ticket.reference])),
        client.post(reverse("portal:ticket_reply", args=[ticket.reference]), {"nonce": fresh_nonce(), "body": ""}),
        client.get(reverse("portal:account")),
    ]
    for response in responses:
        assert response.status_code in (200, 400)
        assert "no-store" in response.get("Cache-Control", ""), response.request["PATH_INFO"]
