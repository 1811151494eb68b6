"""Who sees what: the scoped selectors for every role, against real PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from accounts import selectors as account_selectors
from accounts.choices import AgentRole
from accounts.models import AgentProfile, Contact
from tests import factories
from tickets import selectors, services
from tickets.choices import Channel, MessageKind
from tickets.models import Attachment, Ticket
from tickets.services import Actor, NewAttachment

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _fresh_user(user):
    """A new instance, so the principal cached on the old one is not reused."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def desk():
    """Two teams, two B2B organizations, B2C customers, and tickets spread across all of them."""
    d = SimpleNamespace()
    d.team_a = factories.team("Team A")
    d.team_b = factories.team("Team B")
    d.admin = factories.agent(role=AgentRole.ADMIN, username="admin")
    d.superuser = get_user_model().objects.create_superuser(username="root", email="root@desk.example", password="pw")
    d.agent_a = factories.agent(teams=[d.team_a], username="agent_a")
    d.lead_a = factories.agent(role=AgentRole.TEAM_LEAD, teams=[d.team_a], username="lead_a")
    d.agent_b = factories.agent(teams=[d.team_b], username="agent_b")
    d.inactive_a = factories.agent(teams=[d.team_a], username="inactive_a")
    AgentProfile.objects.filter(user=d.inactive_a).update(is_active=False)
    d.nobody = get_user_model().objects.create_user(username="nobody", password="pw")

    d.acme = factories.organization("Acme", domains=("acme.example",))
    d.globex = factories.organization("Globex", domains=("globex.example",))
    d.acme_plain = factories.contact(email="plain@acme.example", name="Acme Plain")
    d.acme_plain_user = factories.customer_user(d.acme_plain)
    d.acme_boss = factories.contact(email="boss@acme.example", name="Acme Boss", can_see_organization_tickets=True)
    d.acme_boss_user = factories.customer_user(d.acme_boss)
    d.acme_other = factories.contact(email="other@acme.example", name="Acme Other")
    d.globex_boss = factories.contact(
        email="boss@globex.example", name="Globex Boss", can_see_organization_tickets=True
    )
    d.globex_boss_user = factories.customer_user(d.globex_boss)
    d.consumer = factories.contact(email="carla@consumer.example", name="Carla")
    d.consumer_user = factories.customer_user(d.consumer)
    d.consumer_other = factories.contact(email="dave@consumer.example", name="Dave")

    d.t_acme_plain = factories.ticket(requester=d.acme_plain, team=d.team_a, subject="plain's")
    d.t_acme_other = factories.ticket(requester=d.acme_other, team=d.team_b, subject="acme other's")
    d.t_globex = factories.ticket(requester=d.globex_boss, team=d.team_b, subject="globex")
    d.t_consumer = factories.ticket(requester=d.consumer, subject="consumer, unrouted")
    d.t_consumer_cc = factories.ticket(
        requester=d.consumer_other, team=d.team_b, cc=[d.consumer], subject="consumer copied"
    )
    d.t_dave = factories.ticket(requester=d.consumer_other, team=d.team_b, subject="dave alone")
    # Assigned to agent_a while they were in team B; they have left team B since.
    AgentProfile.objects.get(user=d.agent_a).teams.add(d.team_b)
    d.t_assigned_a = factories.ticket(requester=d.consumer_other, team=d.team_b, assignee=d.agent_a, subject="mine")
    AgentProfile.objects.get(user=d.agent_a).teams.remove(d.team_b)

    # A conversation with public and internal parts, each with a file.
    t = d.t_consumer
    d.reply = services.ticket_reply(
        ticket=t,
        by=Actor.agent(d.admin),
        body_text="See attached.",
        attachments=[NewAttachment("fix.png", PNG)],
    )
    d.note = services.ticket_add_note(
        ticket=t, by=Actor.agent(d.admin), body_text="Internal.", attachments=[NewAttachment("log.txt", b"secret")]
    )
    d.call = services.ticket_log_interaction(ticket=t, by=Actor.agent(d.admin), kind="phone_call", body_text="Rang.")
    d.customer_message = Ticket.objects.get(pk=t.pk).messages.filter(author_contact=d.consumer).get()
    d.globex_reply_file = services.ticket_reply(
        ticket=d.t_globex,
        by=Actor.agent(d.admin),
        body_text="Globex file.",
        attachments=[NewAttachment("globex.txt", b"globex data")],
    )
    return d


def _ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


def _tickets(d, *names: str) -> set[int]:
    return {getattr(d, name).pk for name in names}


ALL_TICKETS = (
    "t_acme_plain",
    "t_acme_other",
    "t_globex",
    "t_consumer",
    "t_consumer_cc",
    "t_dave",
    "t_assigned_a",
)


# --- tickets_visible_to -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        pytest.param("admin", ALL_TICKETS, id="admin-agent-sees-all"),
        pytest.param("superuser", ALL_TICKETS, id="superuser-sees-all"),
        pytest.param("agent_a", ("t_acme_plain", "t_consumer", "t_assigned_a"), id="agent-own-team-assigned-unrouted"),
        pytest.param("lead_a", ("t_acme_plain", "t_consumer"), id="team-lead-same-rule-as-agent"),
        pytest.param(
            "agent_b",
            ("t_acme_other", "t_globex", "t_consumer", "t_consumer_cc", "t_dave", "t_assigned_a"),
            id="other-team-agent",
        ),
        pytest.param("inactive_a", (), id="inactive-agent-sees-nothing"),
        pytest.param("nobody", (), id="user-without-profile-or-contact-sees-nothing"),
        pytest.param("consumer_user", ("t_consumer", "t_consumer_cc"), id="b2c-own-and-copied"),
        pytest.param("acme_plain_user", ("t_acme_plain",), id="b2b-without-org-rights-own-only"),
        pytest.param("acme_boss_user", ("t_acme_plain", "t_acme_other"), id="b2b-with-org-rights-whole-org"),
        pytest.param("globex_boss_user", ("t_globex",), id="other-org-sees-none-of-ours"),
    ],
)
def test_tickets_visible_to_each_role(desk, who, visible):
    user = getattr(desk, who)
    assert _ids(selectors.tickets_visible_to(user)) == _tickets(desk, *visible)


@pytest.mark.parametrize("user", [None, AnonymousUser()], ids=["none", "anonymous"])
def test_anonymous_sees_no_tickets(desk, user):
    assert not selectors.tickets_visible_to(user).exists()


def test_deactivated_user_sees_nothing_even_as_admin(desk):
    admin = _fresh_user(desk.admin)
    admin.is_active = False
    assert not selectors.tickets_visible_to(admin).exists()


def test_b2b_contact_loses_org_tickets_when_rights_are_revoked(desk):
    Contact.objects.filter(pk=desk.acme_boss.pk).update(can_see_organization_tickets=False)
    assert _ids(selectors.tickets_visible_to(_fresh_user(desk.acme_boss_user))) == set()


# --- ticket_for ---------------------------------------------------------------------------------


def test_ticket_for_finds_visible_ticket_by_id_reference_and_digits(desk):
    t = desk.t_acme_plain
    user = desk.acme_plain_user
    assert selectors.ticket_for(user, t.pk) == t
    assert selectors.ticket_for(user, t.reference) == t
    assert selectors.ticket_for(user, t.reference.lower()) == t
    assert selectors.ticket_for(user, str(t.pk)) == t


@pytest.mark.parametrize(
    ("who", "ticket"),
    [
        ("acme_plain_user", "t_acme_other"),
        ("acme_boss_user", "t_globex"),
        ("globex_boss_user", "t_acme_plain"),
        ("consumer_user", "t_dave"),
        ("agent_a", "t_globex"),
        ("inactive_a", "t_acme_plain"),
        ("nobody", "t_consumer"),
    ],
)
def test_ticket_for_foreign_ticket_raises_does_not_exist_by_id_and_reference(desk, who, ticket):
    user, foreign = getattr(desk, who), getattr(desk, ticket)
    for key in (foreign.pk, foreign.reference, str(foreign.pk)):
        with pytest.raises(Ticket.DoesNotExist):
            selectors.ticket_for(user, key)


@pytest.mark.parametrize("key", ["SD-999999999", "XX-1", "abc", "", "SD-", 999_999_999])
def test_ticket_for_unknown_or_malformed_key_raises_does_not_exist(desk, key):
    with pytest.raises(Ticket.DoesNotExist):
        selectors.ticket_for(desk.admin, key)


def test_ticket_for_anonymous_raises_does_not_exist(desk):
    with pytest.raises(Ticket.DoesNotExist):
        selectors.ticket_for(AnonymousUser(), desk.t_consumer.reference)


# --- messages and attachments -------------------------------------------------------------------


def test_agent_sees_whole_conversation_including_notes_and_calls(desk):
    kinds = list(selectors.messages_visible_to(desk.agent_a, desk.t_consumer).values_list("kind", flat=True))
    assert kinds == [MessageKind.REPLY, MessageKind.REPLY, MessageKind.NOTE, MessageKind.PHONE_CALL]


def test_customer_sees_public_replies_only(desk):
    messages = list(selectors.messages_visible_to(desk.consumer_user, desk.t_consumer))
    assert [m.pk for m in messages] == [desk.customer_message.pk, desk.reply.pk]


def test_copied_customer_sees_public_replies_of_the_ticket(desk):
    visible = selectors.messages_visible_to(desk.consumer_user, desk.t_consumer_cc)
    assert visible.count() == 1
    assert not visible.exclude(kind=MessageKind.REPLY).exists()


@pytest.mark.parametrize(
    ("who", "ticket"),
    [
        ("nobody", "t_consumer"),
        ("inactive_a", "t_acme_plain"),
        ("consumer_user", "t_dave"),
        ("acme_plain_user", "t_acme_other"),
        ("acme_boss_user", "t_consumer"),
        ("globex_boss_user", "t_acme_plain"),
        ("agent_a", "t_globex"),
    ],
)
def test_messages_of_a_ticket_the_user_cannot_see_are_hidden(desk, who, ticket):
    assert Ticket.objects.get(pk=getattr(desk, ticket).pk).messages.exists()
    assert not selectors.messages_visible_to(getattr(desk, who), getattr(desk, ticket)).exists()


def test_anonymous_sees_no_messages(desk):
    assert not selectors.messages_visible_to(AnonymousUser(), desk.t_consumer).exists()


def test_agent_sees_attachments_on_notes_and_replies_of_visible_tickets(desk):
    names = set(selectors.attachments_visible_to(desk.agent_a).values_list("filename", flat=True))
    assert names == {"fix.png", "log.txt"}
    assert set(selectors.attachments_visible_to(desk.admin).values_list("filename", flat=True)) == {
        "fix.png",
        "log.txt",
        "globex.txt",
    }


def test_customer_never_sees_attachments_on_internal_notes(desk):
    visible = selectors.attachments_visible_to(desk.consumer_user)
    assert list(visible.values_list("filename", flat=True)) == ["fix.png"]
    note_file = Attachment.objects.get(message=desk.note)
    assert not visible.filter(pk=note_file.pk).exists()


@pytest.mark.parametrize("who", ["nobody", "inactive_a", "acme_boss_user", "acme_plain_user"])
def test_users_without_access_see_no_attachments_of_others(desk, who):
    assert not selectors.attachments_visible_to(getattr(desk, who)).exists()


def test_other_org_sees_only_its_own_attachments(desk):
    names = list(selectors.attachments_visible_to(desk.globex_boss_user).values_list("filename", flat=True))
    assert names == ["globex.txt"]


def test_anonymous_sees_no_attachments(desk):
    assert not selectors.attachments_visible_to(AnonymousUser()).exists()


# --- organizations and contacts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("admin", {"acme", "globex"}),
        ("agent_a", {"acme", "globex"}),
        ("lead_a", {"acme", "globex"}),
        ("acme_plain_user", {"acme"}),
        ("acme_boss_user", {"acme"}),
        ("globex_boss_user", {"globex"}),
        ("consumer_user", set()),
        ("inactive_a", set()),
        ("nobody", set()),
    ],
)
def test_organizations_visible_to_each_role(desk, who, visible):
    expected = {getattr(desk, name).pk for name in visible}
    assert _ids(account_selectors.organizations_visible_to(getattr(desk, who))) == expected


def test_anonymous_sees_no_organizations_or_contacts(desk):
    assert not account_selectors.organizations_visible_to(AnonymousUser()).exists()
    assert not account_selectors.contacts_visible_to(AnonymousUser()).exists()


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("acme_plain_user", {"acme_plain"}),
        ("acme_boss_user", {"acme_plain", "acme_boss", "acme_other"}),
        ("globex_boss_user", {"globex_boss"}),
        ("consumer_user", {"consumer"}),
        ("inactive_a", set()),
        ("nobody", set()),
    ],
)
def test_contacts_visible_to_customers_and_nobodies(desk, who, visible):
    expected = {getattr(desk, name).pk for name in visible}
    assert _ids(account_selectors.contacts_visible_to(getattr(desk, who))) == expected


@pytest.mark.parametrize("who", ["admin", "agent_a", "lead_a"])
def test_agents_see_every_contact(desk, who):
    assert _ids(account_selectors.contacts_visible_to(getattr(desk, who))) == set(
        Contact.objects.values_list("pk", flat=True)
    )


def test_inactive_agent_who_is_also_a_contact_is_treated_as_that_customer(desk):
    contact = factories.contact(email="former@acme.example", user=desk.inactive_a)
    user = _fresh_user(desk.inactive_a)
    assert _ids(selectors.tickets_visible_to(user)) == set()
    assert _ids(account_selectors.contacts_visible_to(user)) == {contact.pk}
    assert _ids(account_selectors.organizations_visible_to(user)) == {desk.acme.pk}


# --- query counts -------------------------------------------------------------------------------


def _touch_ticket(t: Ticket) -> tuple:
    return (
        t.reference,
        str(t.requester),
        t.organization.name if t.organization else "",
        t.assignee.get_username() if t.assignee else "",
        t.team.name if t.team else "",
        str(t.type) if t.type else "",
    )


def _more_tickets(desk, n: int) -> None:
    for i in range(n):
        factories.ticket(
            requester=desk.acme_other if i % 2 else desk.consumer_other,
            team=desk.team_a if i % 3 else None,
            assignee=desk.lead_a if i % 3 else None,
            subject=f"extra {i}",
        )


@pytest.mark.parametrize("who", ["admin", "agent_a", "lead_a", "acme_boss_user", "consumer_user", "nobody"])
def test_ticket_list_page_runs_a_bounded_number_of_queries(desk, who, django_assert_max_num_queries):
    _more_tickets(desk, 12)
    user = _fresh_user(getattr(desk, who))
    # principal: profile + teams, or profile + contact; then one query for the page.
    with django_assert_max_num_queries(3):
        page = [_touch_ticket(t) for t in selectors.tickets_visible_to(user)[:50]]
    if who in ("admin", "agent_a", "lead_a"):
        assert len(page) >= 12


def test_ticket_list_query_count_does_not_grow_with_the_page(desk, django_assert_num_queries):
    user = _fresh_user(desk.admin)
    selectors.tickets_visible_to(user).exists()  # load the principal
    with django_assert_num_queries(1):
        small = [_touch_ticket(t) for t in selectors.tickets_visible_to(user)[:50]]
    _more_tickets(desk, 20)
    with django_assert_num_queries(1):
        large = [_touch_ticket(t) for t in selectors.tickets_visible_to(user)[:50]]
    assert len(large) == len(small) + 20


def test_conversation_runs_a_bounded_number_of_queries(desk, django_assert_max_num_queries):
    for i in range(5):
        services.ticket_reply(
            ticket=desk.t_consumer,
            by=Actor.customer(desk.consumer, Channel.PORTAL),
            body_text=f"more {i}",
            attachments=[NewAttachment(f"f{i}.txt", f"data {i}".encode())],
        )
    user = _fresh_user(desk.agent_a)
    with django_assert_max_num_queries(4):
        rows = [
            (str(m.author_user or ""), str(m.author_contact or ""), [a.filename for a in m.attachments.all()])
            for m in selectors.messages_visible_to(user, desk.t_consumer)
        ]
    assert len(rows) == 9


def test_attachment_list_runs_a_bounded_number_of_queries(desk, django_assert_max_num_queries):
    user = _fresh_user(desk.consumer_user)
    with django_assert_max_num_queries(3):
        rows = [(a.filename, a.message.kind) for a in selectors.attachments_visible_to(user)]
    assert rows == [("fix.png", MessageKind.REPLY)]


@pytest.mark.parametrize(("who", "org_count"), [("admin", 7), ("acme_boss_user", 1)])
def test_organization_and_contact_lists_run_a_bounded_number_of_queries(
    desk, who, org_count, django_assert_max_num_queries
):
    manager = factories.agent(username="manager")
    for i in range(5):
        factories.contact(email=f"more{i}@acme.example")
        factories.organization(f"Extra {i}", account_manager=manager, parent=desk.acme)
    user = _fresh_user(getattr(desk, who))
    with django_assert_max_num_queries(4):
        orgs = [
            (o.name, str(o.account_manager or ""), str(o.parent or ""))
            for o in account_selectors.organizations_visible_to(user)
        ]
        contacts = [(c.name, str(c.organization or "")) for c in account_selectors.contacts_visible_to(user)]
    assert len(orgs) == org_count
    assert contacts
