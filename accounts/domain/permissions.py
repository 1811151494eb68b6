"""Who may see and do what. Pure, no Django: selectors turn these rules into queries.

- Admins (and superusers) see every ticket.
- Agents and team leads see tickets of their teams, tickets assigned to them, and tickets not yet
  routed to any team (so new intake can be triaged).
- A customer sees tickets they requested or are copied on; a B2B contact allowed to see their
  organization's tickets sees all of that organization's tickets too.
- Anybody else sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    ANONYMOUS = "anonymous"


class Role(StrEnum):
    AGENT = "agent"
    TEAM_LEAD = "team_lead"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    kind: Kind
    user_id: int | None = None
    role: Role | None = None
    is_superuser: bool = False
    team_ids: frozenset[int] = field(default_factory=frozenset)
    contact_id: int | None = None
    organization_id: int | None = None
    sees_organization: bool = False
    # Preferences the workspace and portal render in (None: the desk's defaults).
    language: str | None = None
    time_zone: str | None = None

    @property
    def is_agent(self) -> bool:
        return self.kind is Kind.AGENT

    @property
    def is_admin(self) -> bool:
        return self.is_agent and (self.is_superuser or self.role is Role.ADMIN)


ANONYMOUS = Principal(kind=Kind.ANONYMOUS)


@dataclass(frozen=True)
class TicketScope:
    """A union of conditions; ``everything`` wins, an empty scope matches nothing."""

    everything: bool = False
    team_ids: frozenset[int] = field(default_factory=frozenset)
    unrouted: bool = False
    assignee_id: int | None = None
    requester_id: int | None = None
    cc_contact_id: int | None = None
    organization_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.everything
            or self.team_ids
            or self.unrouted
            or self.assignee_id
            or self.requester_id
            or self.cc_contact_id
            or self.organization_id
        )


def ticket_scope(principal: Principal) -> TicketScope:
    if principal.is_agent:
        if principal.is_admin:
            return TicketScope(everything=True)
        return TicketScope(team_ids=principal.team_ids, unrouted=True, assignee_id=principal.user_id)
    if principal.kind is Kind.CUSTOMER and principal.contact_id is not None:
        return TicketScope(
            requester_id=principal.contact_id,
            cc_contact_id=principal.contact_id,
            organization_id=principal.organization_id if principal.sees_organization else None,
        )
    return TicketScope()


def sees_internal_messages(principal: Principal) -> bool:
    """Internal notes, logged calls and system messages are for agents only."""
    return principal.is_agent


def sees_all_organizations(principal: Principal) -> bool:
    return principal.is_agent


def can_edit_organization(principal: Principal) -> bool:
    return principal.is_agent and (principal.is_admin or principal.role is Role.TEAM_LEAD)


def can_configure_desk(principal: Principal) -> bool:
    """Mailboxes, SLA policies, custom fields, shared macros and views."""
    return principal.is_admin


def can_work_tickets(principal: Principal) -> bool:
    """Assign, note, change priority, tags, merge: agent-only moves."""
    return principal.is_agent
