"""A desk with a million tickets for the workspace benchmark, written set-based in PostgreSQL.

Everything bulky is one ``INSERT ... SELECT generate_series(...)`` per table, in one transaction: the
full (non-partial) secondary indexes and the foreign keys of the loaded tables are dropped first and
recreated afterwards from their own definitions (``pg_get_indexdef`` / ``pg_get_constraintdef``), so
the schema at the end is the one the migrations made, and a crash rolls all of it back. Then ``VACUUM ANALYZE``, as
autovacuum would have done on a live desk (visibility map for index-only scans, planner statistics).

The desk (fixed seed, so every run builds the same one):

- 4 teams ("Support", "Billing", "Technical", "Onboarding"), 50 agents (a lead per team, two agents
  in two teams), one admin; 5 ticket types; 20 tags.
- 2,000 organizations (20 strategic, 200 enterprise) with a domain and 10 contacts each, and 200,000
  consumers, each with a primary email address.
- 1,000,000 tickets created over two years, ids in creation order. About 15 % active (most of
  them recent: 80 % of the last two weeks' tickets, 10 % of those older than half a year), the rest
  solved or closed. Priorities 7 % urgent, 18 % high, 55 % normal, 20 % low; six channels; 35 % from
  B2B contacts (skewed: big customers open many tickets), 65 % from consumers. New tickets are often
  unrouted and unassigned; other tickets belong to a team (42/26/21/11 %) and an agent of that team.
  Active tickets were last updated a few days ago (exponential, mean 20 days); new and open ones have
  an SLA due date (12 % overdue, 3 % due within two hours); paused ones (pending, on hold) have none.
- 45 % of the tickets have a tag, 12 % a second one.
- 1 to 4 messages per ticket (about 2.5 million): the customer's opening message, then agent
  replies (some internal notes and logged calls) and customer answers, with bodies of ~200
  characters for the full-text index.
- One ticket with exactly 50 messages and an audit timeline, made through ``tickets.services``
  (replies, notes, a logged call, assignment, priority, tags), for the ticket page.

A marker table (``bench_workspace_seed``) records the spec and when the seed finished: a database
with a matching marker is reused. Reuse moves the time-dependent columns forward (SLA due dates of
active tickets, ``updated_at`` of the last days) so "Breaching soon" and "Recently updated" show what
they showed right after seeding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

SEED_VERSION = 2
MARKER_TABLE = "bench_workspace_seed"
TEAMS = ("Support", "Billing", "Technical", "Onboarding")
# Agents per team (the first of each is its lead); sums to 50.
TEAM_SIZES = (20, 13, 11, 6)
TICKET_TYPES = ("Question", "Incident", "Problem", "Task", "Feature request")
TAGS = (
    "vip", "billing", "refund", "login", "outage", "mobile", "api", "invoice", "shipping", "feedback",
    "bug", "how-to", "security", "gdpr", "onboarding", "sso", "export", "performance", "hardware", "renewal",
)  # fmt: skip
AGENT = "ws.agent02"  # a plain agent of the biggest team, "Support", and of no other
ADMIN = "ws.admin"
CONVERSATION_SUBJECT = "Workspace bench: VPN drops every few minutes (50 messages)"
CONVERSATION_MESSAGES = 50
# The bulk-loaded tables: their secondary indexes and foreign keys are rebuilt after the load.
LOADED_TABLES = (
    "accounts_contact",
    "accounts_contactemail",
    "tickets_ticket",
    "tickets_ticket_tags",
    "tickets_message",
)
VACUUMED_TABLES = (*LOADED_TABLES, "accounts_organization", "accounts_organizationdomain")


@dataclass(frozen=True)
class SeedSpec:
    tickets: int = 1_000_000
    organizations: int = 2_000
    contacts_per_organization: int = 10
    consumers: int = 200_000
    max_messages_per_ticket: int = 4
    days: int = 730
    version: int = SEED_VERSION


@dataclass(frozen=True)
class Marker:
    spec: dict
    seeded_at: datetime
    anchor: datetime
    conversation_id: int
    seconds: float


Log = Callable[[str], None]


# --- Marker -------------------------------------------------------------------------------------------


def read_marker() -> Marker | None:
    """The marker of a finished seed in the current database, or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(
            f"SELECT spec, seeded_at, anchor, conversation_id, seconds FROM {MARKER_TABLE} "
            "ORDER BY seeded_at DESC LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    spec = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return Marker(spec=spec, seeded_at=row[1], anchor=row[2], conversation_id=row[3], seconds=row[4])


def matches(marker: Marker | None, spec: SeedSpec) -> bool:
    return marker is not None and marker.spec == asdict(spec)


def _write_marker(spec: SeedSpec, now: datetime, conversation_id: int, seconds: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (spec jsonb NOT NULL, seeded_at timestamptz NOT NULL, "
            "anchor timestamptz NOT NULL, conversation_id bigint NOT NULL, seconds double precision NOT NULL)"
        )
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} VALUES (%s, %s, %s, %s, %s)",
            [json.dumps(asdict(spec)), now, now, conversation_id, seconds],
        )


# --- Seeding ------------------------------------------------------------------------------------------


def seed(spec: SeedSpec, *, log: Log = print) -> Marker:
    """Fill the (freshly migrated, empty) current database; return its marker."""
    began = time.perf_counter()
    now = timezone.now()
    people = _people()
    log(f"   people: {len(people['agents'])} agents in {len(TEAMS)} teams, an admin")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # Memoize would cache a lateral subquery's random() values and hand them to the next ticket.
        cursor.execute("SET LOCAL enable_memoize = off")
        cursor.execute("SELECT setseed(0.42)")
        rebuild = _detach(cursor, LOADED_TABLES)
        params = _params(spec, now, people)
        for label, statement in STEPS:
            step = time.perf_counter()
            cursor.execute(statement, params)
            rows = f"{cursor.rowcount:,} rows" if cursor.rowcount >= 0 else "done"
            log(f"   {label}: {rows}, {time.perf_counter() - step:,.1f} s")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('tickets_ticket', 'id'), (SELECT max(id) FROM tickets_ticket))"
        )
        step = time.perf_counter()
        for statement in rebuild:
            cursor.execute(statement)
        log(f"   indexes and foreign keys rebuilt: {len(rebuild)}, {time.perf_counter() - step:,.1f} s")
    step = time.perf_counter()
    with connection.cursor() as cursor:
        for table in VACUUMED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    log(f"   VACUUM ANALYZE: {time.perf_counter() - step:,.1f} s")
    conversation_id = _conversation(people)
    seconds = time.perf_counter() - began
    _write_marker(spec, now, conversation_id, seconds)
    marker = read_marker()
    assert marker is not None  # noqa: S101 - written just above
    return marker


def _people() -> dict:
    """Teams, agents, the admin, types and tags, through the account services (a few dozen rows)."""
    from accounts import services as account_services
    from accounts.choices import AgentRole
    from accounts.models import Team
    from tickets.models import Tag, TicketType

    teams = [Team.objects.create(name=name, email=f"{name.lower()}@desk.example") for name in TEAMS]
    agents: list[list[int]] = [[] for _ in TEAMS]
    number = 0
    for index, (team, size) in enumerate(zip(teams, TEAM_SIZES, strict=True)):
        for position in range(size):
            number += 1
            username = f"ws.agent{number:02d}"
            member_of = [team]
            if index == 0 and position >= size - 2:
                member_of.append(teams[3])  # two Support agents also help Onboarding
            user = account_services.agent_create(
                username=username,
                email=f"{username}@desk.example",
                first_name="Agent",
                last_name=f"{number:02d}",
                role=AgentRole.TEAM_LEAD if position == 0 else AgentRole.AGENT,
                teams=member_of,
            )
            for team_index, member in enumerate(teams):
                if member in member_of:
                    agents[team_index].append(user.pk)
    account_services.agent_create(username=ADMIN, email=f"{ADMIN}@desk.example", role=AgentRole.ADMIN)
    types = [TicketType.objects.create(name=name).pk for name in TICKET_TYPES]
    tags = [tag.pk for tag in Tag.objects.bulk_create(Tag(name=name) for name in TAGS)]
    everyone = sorted({pk for members in agents for pk in members})
    return {"teams": [t.pk for t in teams], "agents": everyone, "team_agents": agents, "types": types, "tags": tags}


def _params(spec: SeedSpec, now: datetime, people: dict) -> dict[str, object]:
    return {
        "now": now,
        "tickets": spec.tickets,
        "organizations": spec.organizations,
        "per_org": spec.contacts_per_organization,
        "consumers": spec.consumers,
        "max_messages": spec.max_messages_per_ticket,
        "days": spec.days,
        "team_ids": people["teams"],
        "team_agents": [json.dumps(members) for members in people["team_agents"]],
        "all_agents": people["agents"],
        "types": people["types"],
        "tags": people["tags"],
        "account_manager": people["agents"][0],
    }


def _detach(cursor, tables: tuple[str, ...]) -> list[str]:  # noqa: ANN001 - a DB-API cursor
    """Drop the foreign keys and secondary indexes of ``tables``; return the statements that recreate them.

    Primary keys and unique constraints stay (they are what the load must respect anyway), and so do
    partial indexes: they are small, and a predicate like ``status IN (...)`` would come back from
    ``pg_get_indexdef`` as an equivalent but differently written expression.
    """
    cursor.execute(
        """
        SELECT format('ALTER TABLE %%s DROP CONSTRAINT %%I', conrelid::regclass, conname),
               format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s', conrelid::regclass, conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conname
        """,
        [list(tables)],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        """
        SELECT format('DROP INDEX %%s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[]) AND i.indpred IS NULL
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                          WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
        ORDER BY i.indexrelid::regclass::text
        """,
        [list(tables)],
    )
    indexes = cursor.fetchall()
    for drop, _create in [*foreign_keys, *indexes]:
        cursor.execute(drop)
    return [create for _drop, create in indexes] + [create for _drop, create in foreign_keys]


ORGANIZATIONS_SQL = """
INSERT INTO accounts_organization (created_at, updated_at, name, tier, annual_contract_value, currency, address, phone,
                                   website, industry, notes, custom_fields, account_manager_id)
SELECT %(now)s - (g %% 900) * interval '1 day', %(now)s,
       (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay', 'Soylent',
              'Tyrell'])[1 + g %% 10]
         || ' ' || g || ' ' || (ARRAY['GmbH', 'AG', 'Ltd', 'Inc', 'SE'])[1 + g %% 5],
       CASE WHEN g <= 20 THEN 'strategic' WHEN g <= 220 THEN 'enterprise' ELSE 'standard' END,
       CASE WHEN g <= 20 THEN 250000 WHEN g <= 220 THEN 40000 ELSE 5000 END, 'EUR', '', '', '',
       (ARRAY['Retail', 'Manufacturing', 'Finance', 'Health', 'Software', 'Logistics'])[1 + g %% 6], '', '{}'::jsonb,
       CASE WHEN g <= 220 THEN %(account_manager)s END
FROM generate_series(1, %(organizations)s) AS g
"""

DOMAINS_SQL = """
INSERT INTO accounts_organizationdomain (domain, organization_id)
SELECT 'org' || id || '.example', id FROM accounts_organization
"""

B2B_CONTACTS_SQL = """
INSERT INTO accounts_contact (created_at, updated_at, name, role, is_primary, can_see_organization_tickets, phone,
                              language, time_zone, notes, custom_fields, organization_id)
SELECT o.created_at, %(now)s,
       (ARRAY['Anna', 'Ben', 'Clara', 'David', 'Eva', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas'])[1 + (o.id + g) %% 10]
         || ' ' || (ARRAY['Meyer', 'Schmidt', 'Fischer', 'Weber', 'Wagner', 'Becker', 'Hoffmann', 'Koch'])[1 + g %% 8]
         || ' ' || o.id || '-' || g,
       (ARRAY['IT lead', 'Buyer', 'Office manager', 'Developer', ''])[1 + g %% 5], g = 1, g <= 2, '', 'en', '', '',
       '{}'::jsonb, o.id
FROM accounts_organization o CROSS JOIN generate_series(1, %(per_org)s) AS g
ORDER BY o.id, g
"""

CONSUMERS_SQL = """
INSERT INTO accounts_contact (created_at, updated_at, name, role, is_primary, can_see_organization_tickets, phone,
                              language, time_zone, notes, custom_fields)
SELECT %(now)s - (g %% 730) * interval '1 day', %(now)s, 'Customer ' || g, '', false, false, '', 'en', '', '',
       '{}'::jsonb
FROM generate_series(1, %(consumers)s) AS g
"""

EMAILS_SQL = """
INSERT INTO accounts_contactemail (email, is_primary, created_at, contact_id)
SELECT CASE WHEN organization_id IS NULL THEN 'customer' || id || '@mail.example'
            ELSE 'contact' || id || '@org' || organization_id || '.example' END,
       true, created_at, id
FROM accounts_contact
"""

# Numbered pools of requesters: ticket generation picks a number and joins.
POOLS_SQL = """
CREATE TEMP TABLE ws_b2b ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY id) AS n, id AS contact_id, organization_id FROM accounts_contact
  WHERE organization_id IS NOT NULL;
CREATE TEMP TABLE ws_b2c ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY id) AS n, id AS contact_id FROM accounts_contact WHERE organization_id IS NULL;
CREATE TEMP TABLE ws_team ON COMMIT DROP AS
  SELECT 0 AS n, NULL::bigint AS team_id, %(all_agents)s::int[] AS agents
  UNION ALL
  SELECT t.n, t.team_id, ARRAY(SELECT jsonb_array_elements_text(t.agents::jsonb)::int)
  FROM unnest(%(team_ids)s::bigint[], %(team_agents)s::text[]) WITH ORDINALITY AS t(team_id, agents, n);
ALTER TABLE ws_b2b ADD PRIMARY KEY (n);
ALTER TABLE ws_b2c ADD PRIMARY KEY (n);
ANALYZE ws_b2b; ANALYZE ws_b2c; ANALYZE ws_team;
"""

TICKETS_SQL = """
INSERT INTO tickets_ticket (id, subject, status, priority, channel, custom_fields, first_response_due_at,
                            next_response_due_at, resolution_due_at, sla_due_at, first_responded_at,
                            last_customer_message_at, last_agent_message_at, solved_at, closed_at, created_at,
                            updated_at, assignee_id, organization_id, requester_id, team_id, type_id)
SELECT x.g, x.subject, x.status, x.priority, x.channel, '{}'::jsonb,
       CASE WHEN x.status = 'new' THEN x.sla_due_at END, NULL,
       CASE WHEN x.status = 'new' THEN x.sla_due_at + interval '1 day' ELSE x.sla_due_at END, x.sla_due_at,
       x.responded_at, x.created_at, x.responded_at,
       CASE WHEN x.status IN ('solved', 'closed')
            THEN greatest(x.created_at, x.updated_at - x.r_resp * interval '3 days') END,
       CASE WHEN x.status = 'closed' THEN x.updated_at END,
       x.created_at, x.updated_at,
       CASE WHEN x.assigned THEN tm.agents[1 + floor(x.r_agent * cardinality(tm.agents))::int] END,
       b.organization_id, coalesce(b.contact_id, c.contact_id), tm.team_id, x.type_id
FROM (
  SELECT s.*,
         CASE WHEN s.status IN ('new', 'open') THEN
           CASE WHEN s.r_sla < 0.12 THEN %(now)s - (s.r_sla / 0.12) * interval '5 days'
                WHEN s.r_sla < 0.15 THEN %(now)s + ((s.r_sla - 0.12) / 0.03) * interval '2 hours'
                ELSE %(now)s + interval '2 hours' + ((s.r_sla - 0.15) / 0.85) * interval '5 days' END
         END AS sla_due_at,
         CASE WHEN s.status <> 'new'
              THEN least(s.updated_at, s.created_at + s.r_resp * interval '8 hours') END AS responded_at,
         CASE WHEN (s.status = 'new' AND s.r_team < 0.4) OR (s.status <> 'new' AND s.r_team < 0.02) THEN 0
              WHEN s.r_team2 < 0.42 THEN 1 WHEN s.r_team2 < 0.68 THEN 2
              WHEN s.r_team2 < 0.89 THEN 3 ELSE 4 END AS team_n,
         CASE WHEN s.status = 'new' THEN s.r_assign < 0.15
              WHEN s.status IN ('open', 'pending', 'on_hold') THEN s.r_assign < 0.92
              ELSE s.r_assign < 0.97 END AS assigned
  FROM (
    SELECT a.*,
           CASE WHEN a.active THEN %(now)s - least(a.age, -ln(1 - a.r_upd) * 20) * interval '1 day'
                ELSE a.created_at + least(a.age, 0.01 + power(a.r_upd, 3) * 10) * interval '1 day' END AS updated_at
    FROM (
      SELECT r.*,
             CASE
               WHEN r.active AND r.age < 14 THEN
                 CASE WHEN r.r_status < 0.3 THEN 'new' WHEN r.r_status < 0.7 THEN 'open'
                      WHEN r.r_status < 0.9 THEN 'pending' ELSE 'on_hold' END
               WHEN r.active THEN
                 CASE WHEN r.r_status < 0.03 THEN 'new' WHEN r.r_status < 0.5 THEN 'open'
                      WHEN r.r_status < 0.8 THEN 'pending' ELSE 'on_hold' END
               WHEN r.age < 10 AND r.r_status < 0.7 THEN 'solved'
               WHEN r.age >= 10 AND r.r_status < 0.05 THEN 'solved'
               ELSE 'closed'
             END AS status
      FROM (
        SELECT q.*, (extract(epoch FROM %(now)s - q.created_at) / 86400)::float8 AS age,
               q.r_active < CASE WHEN %(now)s - q.created_at < interval '14 days' THEN 0.8
                                 WHEN %(now)s - q.created_at < interval '60 days' THEN 0.35
                                 WHEN %(now)s - q.created_at < interval '180 days' THEN 0.2 ELSE 0.1 END AS active
        FROM (
          SELECT g,
                 %(now)s - (%(days)s * (1 - g::float8 / %(tickets)s) + random() / 24) * interval '1 day' AS created_at,
                 random() AS r_active, random() AS r_status, random() AS r_team, random() AS r_team2,
                 random() AS r_assign, random() AS r_agent, random() AS r_upd, random() AS r_sla, random() AS r_resp,
                 CASE WHEN random() < 0.35
                      THEN 1 + floor(power(random(), 2.5) * (SELECT count(*) FROM ws_b2b))::int END AS b2b_n,
                 1 + floor(random() * (SELECT count(*) FROM ws_b2c))::int AS b2c_n,
                 CASE WHEN random() < 0.07 THEN 'urgent' WHEN random() < 0.19 THEN 'high'
                      WHEN random() < 0.73 THEN 'normal' ELSE 'low' END AS priority,
                 (ARRAY['email', 'web', 'portal', 'phone', 'api', 'chat'])[
                   CASE WHEN random() < 0.55 THEN 1 ELSE 2 + floor(power(random(), 1.5) * 5)::int END] AS channel,
                 CASE WHEN random() < 0.8
                      THEN (%(types)s::bigint[])[1 + floor(random() * cardinality(%(types)s::bigint[]))::int]
                 END AS type_id,
                 (ARRAY['Cannot log in to', 'Error in', 'Question about', 'Problem with', 'Request for', 'Slow',
                        'Crash in', 'Refund for', 'Update on', 'Access to', 'Missing',
                        'Wrong'])[1 + floor(random() * 12)::int]
                   || ' ' || (ARRAY['the portal', 'invoice', 'order', 'VPN', 'printer', 'mobile app', 'dashboard',
                                    'API key', 'password reset', 'shipment', 'license', 'report export',
                                    'email delivery', 'billing address', 'SSO', 'contract', 'delivery note',
                                    'webhook', 'calendar sync', 'data import'])[1 + floor(random() * 20)::int]
                   || CASE WHEN random() < 0.4 THEN ' ' || (100000 + floor(random() * 900000)::int) ELSE '' END
                 AS subject
          FROM generate_series(1, %(tickets)s) AS g
        ) q
      ) r
    ) a
  ) s
) x
JOIN ws_team tm ON tm.n = x.team_n
LEFT JOIN ws_b2b b ON b.n = x.b2b_n
LEFT JOIN ws_b2c c ON c.n = x.b2c_n AND x.b2b_n IS NULL
"""

TAGS_SQL = """
INSERT INTO tickets_ticket_tags (ticket_id, tag_id)
SELECT id, (%(tags)s::bigint[])[1 + floor(random() * 10)::int] FROM tickets_ticket WHERE random() < 0.45
UNION ALL
SELECT id, (%(tags)s::bigint[])[11 + floor(random() * 10)::int] FROM tickets_ticket WHERE random() < 0.12
"""

MESSAGES_SQL = """
INSERT INTO tickets_message (ticket_id, kind, channel, author_contact_id, author_user_id, body_text, body_html,
                             message_id, in_reply_to, "references", from_address, to_addresses, cc_addresses,
                             threading_rule, quoted_text, delivery_status, delivery_error, delivery_attempts, sent_at,
                             occurred_at, duration_minutes, created_at)
SELECT m.ticket_id, m.kind, CASE WHEN m.by_agent THEN 'agent_ui' ELSE m.channel END,
       CASE WHEN NOT m.by_agent THEN m.requester_id END, CASE WHEN m.by_agent THEN m.agent_id END,
       m.body, '',
       CASE WHEN m.channel = 'email' AND m.kind = 'reply'
            THEN '<ws.' || m.ticket_id || '.' || m.k || '@mail.example>' ELSE '' END,
       '', '', '', '', '', '', '',
       CASE WHEN m.by_agent AND m.kind = 'reply' THEN 'sent' ELSE '' END, '',
       CASE WHEN m.by_agent AND m.kind = 'reply' THEN 1 ELSE 0 END,
       CASE WHEN m.by_agent AND m.kind = 'reply' THEN m.at END,
       CASE WHEN m.kind = 'phone_call' THEN m.at END, CASE WHEN m.kind = 'phone_call' THEN 5 + m.k * 3 END,
       m.at
FROM (
  SELECT t.id AS ticket_id, t.channel, t.requester_id, k.k, k.k %% 2 = 0 AS by_agent,
         coalesce(t.assignee_id,
                  (%(all_agents)s::int[])[1 + (t.id %% cardinality(%(all_agents)s::int[]))::int]) AS agent_id,
         CASE WHEN k.k %% 2 = 1 OR k.r < 0.7 THEN 'reply' WHEN k.r < 0.95 THEN 'note' ELSE 'phone_call' END AS kind,
         t.created_at + (t.updated_at - t.created_at) * ((k.k - 1)::float8 / n.n) AS at,
         (ARRAY['Hello,', 'Hi team,', 'Dear support,', 'Good morning,', 'Hi,'])[1 + floor(random() * 5)::int] || E'\n\n'
         || (ARRAY['since this morning', 'after the last update', 'for two days now', 'again today',
                   'on every second attempt', 'only on my laptop', 'for all colleagues',
                   'since we moved office'])[1 + floor(random() * 8)::int]
         || ' ' || (ARRAY['the login page shows an error', 'the invoice total looks wrong', 'the VPN disconnects',
                          'the export stops halfway', 'the app crashes on start', 'the printer refuses jobs',
                          'the order status does not change', 'the password reset mail never arrives',
                          'the dashboard loads forever', 'the webhook is not called', 'the licence key is rejected',
                          'the calendar does not sync'])[1 + floor(random() * 12)::int]
         || '. ' || (ARRAY['We tried restarting', 'I cleared the cache', 'A colleague checked the settings',
                           'Our admin looked at the logs', 'We reinstalled the client',
                           'Nothing changed after a reboot'])[1 + floor(random() * 6)::int]
         || ' (reference ' || (1000000 + floor(random() * 9000000)::int) || '). '
         || (ARRAY['Could you please have a look?', 'Is there a known issue?', 'Please advise.',
                   'This blocks our team.', 'Thanks for checking.'])[1 + floor(random() * 5)::int]
         || E'\n\n' || (ARRAY['Best regards', 'Thanks', 'Kind regards', 'Cheers'])[1 + floor(random() * 4)::int] AS body
  FROM tickets_ticket t
  CROSS JOIN LATERAL (SELECT 1 + floor(random() * %(max_messages)s + 0 * t.id)::int AS n OFFSET 0) n
  CROSS JOIN LATERAL (SELECT k, random() AS r FROM generate_series(1, n.n) AS k OFFSET 0) k
) m
"""

STEPS = (
    ("organizations", ORGANIZATIONS_SQL),
    ("organization domains", DOMAINS_SQL),
    ("B2B contacts", B2B_CONTACTS_SQL),
    ("consumers", CONSUMERS_SQL),
    ("contact emails", EMAILS_SQL),
    ("requester pools", POOLS_SQL),
    ("tickets", TICKETS_SQL),
    ("ticket tags", TAGS_SQL),
    ("messages", MESSAGES_SQL),
)


def _conversation(people: dict) -> int:
    """The ticket with 50 messages and a timeline, made the way the workspace makes it: through the services."""
    from django.contrib.auth import get_user_model

    from accounts.models import Contact, Team
    from tickets import services
    from tickets.choices import Channel, MessageKind, Priority

    user_model = get_user_model()
    agent = user_model.objects.get(username=AGENT)
    lead = user_model.objects.get(pk=people["team_agents"][0][0])
    requester = (
        Contact.objects.filter(organization__isnull=False, organization__tier="strategic").order_by("id").first()
    )
    assert requester is not None  # noqa: S101 - seeded above
    team = Team.objects.get(pk=people["teams"][0])
    ticket = services.ticket_create(
        subject=CONVERSATION_SUBJECT,
        requester=requester,
        channel=Channel.EMAIL,
        body_text="Hello,\n\nour VPN drops every few minutes for the whole office since Monday.\n\nThanks",
        organization=requester.organization,
        team=team,
    )
    as_agent, as_lead = services.Actor.agent(agent), services.Actor.agent(lead)
    as_customer = services.Actor.customer(requester, Channel.EMAIL)
    services.ticket_assign(ticket=ticket, by=as_lead, assignee=agent)
    services.ticket_change_priority(ticket=ticket, by=as_agent, priority=Priority.HIGH)
    services.ticket_update_tags(ticket=ticket, by=as_agent, add=["vpn-outage", "vip", "network"])
    count = 1
    while count < CONVERSATION_MESSAGES:
        step = count % 5
        if step == 1:
            services.ticket_reply(
                ticket=ticket,
                by=as_agent,
                body_text=f"Thanks for the details. Could you send the client log? ({count})",
            )
        elif step == 2:
            services.ticket_reply(
                ticket=ticket,
                by=as_customer,
                body_text=f"Here is what the log shows around the drop: timeout ({count}).",
            )
        elif step == 3:
            services.ticket_add_note(
                ticket=ticket, by=as_agent, body_text=f"@{lead.username} this looks like the MTU issue again ({count})."
            )
        elif step == 4 and count == 14:
            services.ticket_log_interaction(
                ticket=ticket,
                by=as_agent,
                kind=MessageKind.PHONE_CALL,
                body_text="Called the IT lead.",
                duration_minutes=15,
            )
        else:
            services.ticket_reply(ticket=ticket, by=as_customer, body_text=f"Still dropping, any news? ({count})")
        count += 1
        if count == 25:
            services.ticket_change_priority(ticket=ticket, by=as_agent, priority=Priority.URGENT)
    return ticket.pk


# --- Reuse --------------------------------------------------------------------------------------------


def move_clock(marker: Marker, *, now: datetime | None = None, log: Log = print) -> timedelta:
    """Move the time-dependent data forward by the time since the seed (or the last move).

    SLA due dates of active tickets move by the whole gap, and so does ``updated_at`` of the tickets
    updated in the three days before: the "Breaching soon" and "Recently updated" views then hold as
    many tickets as right after seeding. Nothing else changes.
    """
    moment = now or timezone.now()
    gap = timedelta(seconds=round((moment - marker.anchor).total_seconds()))
    if gap < timedelta(minutes=10):
        return timedelta(0)
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE tickets_ticket SET sla_due_at = sla_due_at + %(gap)s,
                   first_response_due_at = first_response_due_at + %(gap)s,
                   resolution_due_at = resolution_due_at + %(gap)s
            WHERE sla_due_at IS NOT NULL AND status IN ('new', 'open', 'pending', 'on_hold') AND id <> %(keep)s
            """,
            {"gap": gap, "keep": marker.conversation_id},
        )
        moved_sla = cursor.rowcount
        cursor.execute(
            "UPDATE tickets_ticket SET updated_at = updated_at + %(gap)s "
            "WHERE updated_at >= %(anchor)s - interval '3 days' AND updated_at <= %(anchor)s AND id <> %(keep)s",
            {"gap": gap, "anchor": marker.anchor, "keep": marker.conversation_id},
        )
        moved_updated = cursor.rowcount
        cursor.execute(f"UPDATE {MARKER_TABLE} SET anchor = anchor + %s", [gap])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tickets_ticket")
    log(
        f"   clock moved by {gap}: {moved_sla:,} SLA due dates, {moved_updated:,} recent updates, "
        f"{time.perf_counter() - began:,.1f} s"
    )
    return gap


def row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT count(*) FROM tickets_ticket),
                   (SELECT count(*) FROM tickets_ticket WHERE status IN ('new', 'open', 'pending', 'on_hold')),
                   (SELECT count(*) FROM tickets_message),
                   (SELECT count(*) FROM accounts_contact),
                   (SELECT count(*) FROM accounts_organization)
            """
        )
        tickets, active, messages, contacts, organizations = cursor.fetchone()
    return {
        "tickets": tickets,
        "active": active,
        "messages": messages,
        "contacts": contacts,
        "organizations": organizations,
    }
