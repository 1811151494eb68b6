from accounts.domain.permissions import (
    ANONYMOUS,
    Kind,
    Principal,
    Role,
    TicketScope,
    can_edit_organization,
    sees_internal_messages,
    ticket_scope,
)


def test_admin_and_superuser_see_everything():
    assert ticket_scope(Principal(kind=Kind.AGENT, user_id=1, role=Role.ADMIN)).everything
    assert ticket_scope(Principal(kind=Kind.AGENT, user_id=1, role=Role.AGENT, is_superuser=True)).everything


def test_agent_sees_teams_assigned_and_unrouted():
    scope = ticket_scope(Principal(kind=Kind.AGENT, user_id=5, role=Role.TEAM_LEAD, team_ids=frozenset({2, 3})))
    assert scope == TicketScope(team_ids=frozenset({2, 3}), unrouted=True, assignee_id=5)


def test_b2b_contact_sees_organization_only_when_allowed():
    allowed = Principal(kind=Kind.CUSTOMER, user_id=9, contact_id=4, organization_id=7, sees_organization=True)
    denied = Principal(kind=Kind.CUSTOMER, user_id=9, contact_id=4, organization_id=7, sees_organization=False)
    assert ticket_scope(allowed).organization_id == 7
    assert ticket_scope(denied).organization_id is None
    assert ticket_scope(denied).requester_id == 4


def test_anonymous_and_customer_without_contact_see_nothing_and_no_internal_messages():
    assert ticket_scope(ANONYMOUS).is_empty
    assert ticket_scope(Principal(kind=Kind.CUSTOMER, user_id=3)).is_empty
    assert not sees_internal_messages(Principal(kind=Kind.CUSTOMER, user_id=3, contact_id=1))
    assert sees_internal_messages(Principal(kind=Kind.AGENT, user_id=3, role=Role.AGENT))


def test_only_team_leads_and_admins_edit_organizations():
    assert not can_edit_organization(Principal(kind=Kind.AGENT, user_id=1, role=Role.AGENT))
    assert can_edit_organization(Principal(kind=Kind.AGENT, user_id=1, role=Role.TEAM_LEAD))
    assert not can_edit_organization(Principal(kind=Kind.CUSTOMER, user_id=1, contact_id=1))
