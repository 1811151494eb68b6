"""Workspace search: tickets (subjects and messages), contacts and organizations, scoped to the user.

On PostgreSQL this is full-text search with the ``simple`` configuration (no stemming and no stop
words, so names, product codes and German and English text match as typed) over GIN expression
indexes: ``ticket_subject_fts`` and ``message_body_fts`` (migration ``tickets/0005_workspace``) and
``contact_name_fts``, ``contact_email_fts``, ``organization_name_fts`` and ``organization_domain_fts``
(``accounts/0003_search``). The vectors below must compile to exactly the indexed expressions, or
the planner cannot use the indexes; ``tests/integration/test_workspace_search.py`` checks the plans.

- Tickets: ``websearch_to_tsquery`` over what the agent typed ("quoted phrases", ``-excluded``,
  ``or``), the last word also matched as a prefix (``invoi`` finds "invoice"), built with
  ``to_tsquery`` from letters and digits only. Subjects and messages (internal notes included,
  for agents) of visible tickets are searched; a ticket ranks by its best subject or message match.
- Contacts and organizations: every word as a prefix, over the name and the addresses (emails,
  domains) split at ``@ . - _ +``, so ``mueller``, ``acme.de`` and ``@acme`` all find what they say.
- Each kind reads at most ``CANDIDATES`` of the newest matches and ranks those, and shows the best
  ``limit``; nothing is counted. How those newest matches are read (from the GIN index, or newest
  first along the primary key) is decided per word from the planner's estimate, so that neither a
  rare nor a common word reads a whole table: see ``newest_matches``. Measured with a million
  tickets and three million messages: 20-250 ms per search for an admin, up to ~0.8 s for an agent
  who sees a tenth of the tickets and types a mid-frequency word.

On SQLite (the demo database) every word must occur as a substring (``icontains``), newest first.
Typing a ticket reference (``SD-1042``, ``sd-1042``, ``#1042``) of a visible ticket jumps to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import F, Func, IntegerField, Prefetch, Q, QuerySet, Value

from accounts.domain.permissions import sees_internal_messages, ticket_scope
from accounts.models import Contact, ContactEmail, Organization, OrganizationDomain
from accounts.selectors import UserLike, contacts_visible_to, organizations_visible_to, principal_for
from tickets import selectors
from tickets.choices import PUBLIC_MESSAGE_KINDS
from tickets.domain.references import parse_reference
from tickets.models import Message, Ticket

CONFIG = "simple"
MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
# The last word is matched as a prefix only from this length: "a:*" would read half the index.
MIN_PREFIX_LENGTH = 3
# Matches read per kind before ranking (the newest ones), and results shown per kind.
CANDIDATES = 200
# How the newest candidates are read (see ``newest_matches``): from the GIN index for words the
# planner expects in at most this many rows. A bitmap of that many rows still fits PostgreSQL's
# default work_mem (4 MB) exactly; a bigger one turns lossy and every row on its pages is parsed again.
RARE_MATCHES = 50_000
LIMIT = 20
# A word in the subject counts more than the same word somewhere in a long message.
SUBJECT_WEIGHT = 2.0

# Characters that split addresses into words, in the index expressions and in the queries alike.
EMAIL_SEPARATORS = "@.-_+"
DOMAIN_SEPARATORS = ".-"
# Marks ts_headline puts around matches: control characters that never occur in the text we show
# (they are removed from it first), so the snippet can be escaped and highlighted safely.
START_SEL, STOP_SEL = "\x02", "\x03"

_WORD = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NEGATED = re.compile(r'(?:^|(?<=\s))-(?:"[^"]*"?|\S+)')
_LAST_WORD = re.compile(r"(?:^|\s)([^\W_]+)$")
_HASH_REFERENCE = re.compile(r"\s*#(\d{1,18})\s*")


# --- What was typed (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """A search as typed, cleaned: ``text`` for websearch_to_tsquery, the last word as ``prefix``."""

    text: str
    head: str = ""
    prefix: str | None = None
    words: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nothing to look for: no word that is not excluded (``-word`` alone would match everything)."""
        return not self.words

    def tsquery_words(self) -> str:
        """``w1:* & w2:* & w3`` for contacts and organizations: letters and digits only, so always valid."""
        return " & ".join(f"{w}:*" if len(w) >= 2 else w for w in self.words)


def parse_terms(raw: str) -> Terms:
    text = " ".join(_CONTROL.sub(" ", raw or "").split())[:MAX_QUERY_LENGTH].strip()
    positive = _NEGATED.sub(" ", text)
    chunks = positive.split()
    words = [
        w.lower() for chunk in chunks if not (chunk.lower() == "or" and len(chunks) > 1) for w in _WORD.findall(chunk)
    ][:MAX_WORDS]
    head, prefix = text, None
    match = _LAST_WORD.search(text)
    if match and len(match.group(1)) >= MIN_PREFIX_LENGTH and match.group(1).lower() != "or":
        before = text[: match.start(1)]
        previous = before.split()[-1].lower() if before.split() else ""
        if before.count('"') % 2 == 0 and previous != "or":
            head, prefix = before.strip(), match.group(1)
    return Terms(text=text, head=head, prefix=prefix, words=tuple(dict.fromkeys(words)))


def reference_number(raw: str) -> int | None:
    """The ticket number of ``SD-1042``, ``sd-1042`` or ``#1042`` typed alone, else ``None``."""
    number = parse_reference(raw or "", settings.TICKET_REFERENCE_PREFIX)
    if number is None:
        match = _HASH_REFERENCE.fullmatch(raw or "")
        number = int(match.group(1)) if match else None
    return number


Segment = tuple[str, bool]


def marked_segments(text: str) -> tuple[Segment, ...]:
    """``ts_headline`` output split into (text, highlighted) pieces; the template escapes each piece."""
    segments: list[Segment] = []
    highlighted = False
    for part in re.split(f"([{START_SEL}{STOP_SEL}])", text or ""):
        if part == START_SEL:
            highlighted = True
        elif part == STOP_SEL:
            highlighted = False
        elif part:
            segments.append((part, highlighted))
    return tuple(segments)


def excerpt_segments(text: str, words: Sequence[str], *, width: int = 160) -> tuple[Segment, ...]:
    """A window of ``text`` around the first of ``words`` with every occurrence marked (the fallback)."""
    text = " ".join(_CONTROL.sub(" ", text or "").split())
    lowered = text.lower()
    hits = [i for i in (lowered.find(w) for w in words if w) if i >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    window = text[start : start + width]
    prefix = "… " if start > 0 else ""
    suffix = " …" if start + width < len(text) else ""
    if not words:
        return ((prefix + window + suffix, False),) if window else ()
    pattern = re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True) if w), re.I)
    segments: list[Segment] = [(prefix, False)] if prefix else []
    position = 0
    for match in pattern.finditer(window):
        if match.start() > position:
            segments.append((window[position : match.start()], False))
        segments.append((match.group(0), True))
        position = match.end()
    if position < len(window):
        segments.append((window[position:], False))
    if suffix:
        segments.append((suffix, False))
    return tuple(s for s in segments if s[0])


# --- Results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketHit:
    ticket: Ticket
    # The matching message (or the subject) with the matches marked.
    snippet: tuple[Segment, ...]
    message_kind: str | None = None

    @property
    def in_message(self) -> bool:
        return self.message_kind is not None


@dataclass(frozen=True)
class SearchResults:
    query: str
    terms: Terms
    tickets: list[TicketHit] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    organizations: list[Organization] = field(default_factory=list)
    # More matched than shown (at least ``limit + 1``; never counted further).
    more_tickets: bool = False
    more_contacts: bool = False
    more_organizations: bool = False
    # The visible ticket whose reference was typed.
    reference_ticket: Ticket | None = None
    # Set when the search stopped at that ticket (``jump=True``): the view goes straight to it.
    jump: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.tickets or self.contacts or self.organizations or self.reference_ticket)


def workspace_search(user: UserLike, raw: str, *, jump: bool = False, limit: int = LIMIT) -> SearchResults:
    """What ``user`` may see of tickets, contacts and organizations matching ``raw``, best first.

    A typed reference of a visible ticket comes back as ``reference_ticket``; with ``jump`` the search
    stops there (``jump`` set: the view redirects to it). A reference the user may not see is
    searched as text like anything else, so a guessed number reveals nothing.
    """
    terms = parse_terms(raw)
    reference_ticket = None
    number = reference_number(raw)
    if number is not None:
        reference_ticket = selectors.tickets_visible_to(user).filter(pk=number).first()
        if reference_ticket is not None and jump:
            return SearchResults(query=terms.text, terms=terms, reference_ticket=reference_ticket, jump=True)
    if terms.is_empty:
        return SearchResults(query=terms.text, terms=terms, reference_ticket=reference_ticket)
    if connection.vendor == "postgresql":
        tickets, more_tickets = _pg_tickets(user, terms, limit)
        contacts, more_contacts = _pg_contacts(user, terms, limit)
        organizations, more_organizations = _pg_organizations(user, terms, limit)
    else:
        tickets, more_tickets = _like_tickets(user, terms, limit)
        contacts, more_contacts = _like_contacts(user, terms, limit)
        organizations, more_organizations = _like_organizations(user, terms, limit)
    return SearchResults(
        query=terms.text,
        terms=terms,
        tickets=tickets,
        contacts=contacts,
        organizations=organizations,
        more_tickets=more_tickets,
        more_contacts=more_contacts,
        more_organizations=more_organizations,
        reference_ticket=reference_ticket,
    )


# --- PostgreSQL: vectors and queries --------------------------------------------------------------


def _translate(column: str, separators: str) -> Func:
    return Func(F(column), Value(separators), Value(" " * len(separators)), function="translate")


def subject_vector() -> SearchVector:
    """``to_tsvector('simple', COALESCE(subject, ''))``: the ``ticket_subject_fts`` index."""
    return SearchVector("subject", config=CONFIG)


def body_vector() -> SearchVector:
    """``to_tsvector('simple', COALESCE(body_text, ''))``: the ``message_body_fts`` index."""
    return SearchVector("body_text", config=CONFIG)


def name_vector() -> SearchVector:
    """``to_tsvector('simple', COALESCE(name, ''))``: ``contact_name_fts`` and ``organization_name_fts``."""
    return SearchVector("name", config=CONFIG)


def email_vector() -> SearchVector:
    """``to_tsvector('simple', COALESCE(translate(email, '@.-_+', '     '), ''))``: ``contact_email_fts``."""
    return SearchVector(_translate("email", EMAIL_SEPARATORS), config=CONFIG)


def domain_vector() -> SearchVector:
    """``to_tsvector('simple', COALESCE(translate(domain, '.-', '  '), ''))``: ``organization_domain_fts``."""
    return SearchVector(_translate("domain", DOMAIN_SEPARATORS), config=CONFIG)


def ticket_query(terms: Terms) -> SearchQuery:
    """websearch_to_tsquery of the text before the last word, && the last word as a prefix."""
    parts = []
    if _WORD.search(terms.head):
        parts.append(SearchQuery(terms.head, search_type="websearch", config=CONFIG))
    if terms.prefix:
        parts.append(SearchQuery(f"{terms.prefix}:*", search_type="raw", config=CONFIG))
    query = parts[0]
    for part in parts[1:]:
        query = query & part
    return query


def people_query(terms: Terms) -> SearchQuery:
    return SearchQuery(terms.tsquery_words(), search_type="raw", config=CONFIG)


def subject_matches(user: UserLike, terms: Terms) -> QuerySet[Ticket]:
    """Visible tickets whose subject matches, newest first (answerable from ``ticket_subject_fts``)."""
    return (
        selectors.tickets_visible_to(user)
        .annotate(search=subject_vector())
        .filter(search=ticket_query(terms))
        .order_by("-id")
    )


def message_matches(user: UserLike, terms: Terms) -> QuerySet[Message]:
    """Messages of visible tickets that match, newest first (answerable from ``message_body_fts``)."""
    principal = principal_for(user)
    condition = selectors._scope_q(ticket_scope(principal), prefix="ticket__")
    if condition is None:
        return Message.objects.none()
    qs = Message.objects.filter(condition).annotate(search=body_vector()).filter(search=ticket_query(terms))
    if not sees_internal_messages(principal):
        qs = qs.filter(kind__in=PUBLIC_MESSAGE_KINDS)
    return qs.order_by("-id")


def contact_name_matches(user: UserLike, terms: Terms) -> QuerySet[Contact]:
    return contacts_visible_to(user).annotate(search=name_vector()).filter(search=people_query(terms)).order_by("-id")


def contact_email_matches(user: UserLike, terms: Terms) -> QuerySet[ContactEmail]:
    return (
        ContactEmail.objects.annotate(search=email_vector())
        .filter(search=people_query(terms), contact__in=contacts_visible_to(user).values("pk"))
        .order_by("-id")
    )


def organization_name_matches(user: UserLike, terms: Terms) -> QuerySet[Organization]:
    return (
        organizations_visible_to(user).annotate(search=name_vector()).filter(search=people_query(terms)).order_by("-id")
    )


def organization_domain_matches(user: UserLike, terms: Terms) -> QuerySet[OrganizationDomain]:
    return (
        OrganizationDomain.objects.annotate(search=domain_vector())
        .filter(search=people_query(terms), organization__in=organizations_visible_to(user).values("pk"))
        .order_by("-id")
    )


def _ranked(candidates: QuerySet, key: str, vector: SearchVector, query: SearchQuery, source: int) -> QuerySet:
    """(key, rank, source, pk) of the newest ``CANDIDATES`` rows of ``candidates``, ranked in an outer
    query so that ts_rank (which rebuilds each row's vector from its text) runs on those rows only."""
    return (
        candidates.model.objects.filter(pk__in=newest_matches(candidates, vector, query))
        .annotate(rank=SearchRank(vector, query), source=Value(source, output_field=IntegerField()))
        .values_list(key, "rank", "source", "pk")
        .order_by()
    )


def newest_matches(candidates: QuerySet, vector: SearchVector, query: SearchQuery) -> QuerySet:
    """The ids of the newest ``CANDIDATES`` rows of ``candidates`` (rows whose ``vector`` matches
    ``query``, maybe narrowed to what the user sees), planned so that neither a rare nor a common
    word reads and parses a whole table.

    There are two ways: walk the primary key newest first and parse each row's text until enough
    match (cheap for a word in every tenth row, the whole table for a rare one), or read every match
    from the GIN index, then sort (cheap for a rare word; for a common one, hundreds of thousands of
    rows, and once the bitmap outgrows ``work_mem`` every row on its pages is parsed again).
    PostgreSQL's estimate is accurate for frequent words, which are in its statistics, and too high
    for all the others (it assumes they are half as frequent as the least frequent word it keeps),
    so left alone it walks the key for rare words too and takes seconds (it also thinks parsing a
    row costs a tenth of what it does). So the planner is asked first (an EXPLAIN, ~1 ms): when the
    index is expected to hold at most ``RARE_MATCHES`` matches, whatever the user may see, the order
    is one no index has (``id + 0``), and the GIN index is the only cheap way; for a frequent word,
    whose numbers are right, the planner chooses (``ORDER BY id DESC``), in practice newest first.

    Past ~20 million messages the estimate for words outside the statistics exceeds
    ``RARE_MATCHES``: raise the statistics target of the index expression and ``work_mem`` then.
    """
    order = (F("pk") + 0).desc()
    everywhere = candidates.model.objects.annotate(search=vector).filter(search=query)
    if estimated_rows(everywhere) > RARE_MATCHES:
        order = F("pk").desc()
    return candidates.order_by(order).values("pk")[:CANDIDATES]


def estimated_rows(qs: QuerySet) -> float:
    """The planner's estimate of how many rows ``qs`` returns (one EXPLAIN, nothing executed)."""
    plan = json.loads(qs.order_by().values("pk").explain(format="json"))
    return float(plan[0]["Plan"]["Plan Rows"])


def _best(scored: Iterable[tuple[int, float]], limit: int) -> tuple[list[int], bool]:
    """The ``limit`` best keys (highest rank, then newest), and whether more matched."""
    best: dict[int, float] = {}
    for key, rank in scored:
        if rank > best.get(key, -1.0):
            best[key] = rank
    ordered = sorted(best, key=lambda k: (-best[k], -k))
    return ordered[:limit], len(ordered) > limit


_SUBJECT, _MESSAGE = 0, 1


def _pg_tickets(user: UserLike, terms: Terms, limit: int) -> tuple[list[TicketHit], bool]:
    query = ticket_query(terms)
    subjects = _ranked(subject_matches(user, terms), "pk", subject_vector(), query, _SUBJECT)
    messages = _ranked(message_matches(user, terms), "ticket_id", body_vector(), query, _MESSAGE)
    # One round trip for both: (ticket id, rank, source, subject or message id).
    scored: list[tuple[int, float]] = []
    best_message: dict[int, tuple[float, int]] = {}
    for ticket_id, rank, source, pk in subjects.union(messages, all=True):
        if source == _SUBJECT:
            scored.append((ticket_id, rank * SUBJECT_WEIGHT))
        else:
            scored.append((ticket_id, rank))
            if rank > best_message.get(ticket_id, (-1.0, 0))[0]:
                best_message[ticket_id] = (rank, pk)
    ticket_ids, more = _best(scored, limit)
    if not ticket_ids:
        return [], False
    tickets = {
        t.pk: t
        for t in selectors.tickets_visible_to(user)
        .filter(pk__in=ticket_ids)
        .annotate(headline=_headline("subject", query, highlight_all=True))
    }
    message_ids = [best_message[t][1] for t in ticket_ids if t in best_message]
    snippets = {
        pk: (kind, headline)
        for pk, kind, headline in Message.objects.filter(pk__in=message_ids)
        .annotate(headline=_headline("body_text", query))
        .values_list("pk", "kind", "headline")
    }
    hits = []
    for ticket_id in ticket_ids:
        ticket = tickets.get(ticket_id)
        if ticket is None:  # changed hands between the two reads
            continue
        message = snippets.get(best_message.get(ticket_id, (0.0, 0))[1])
        if message is not None:
            hits.append(TicketHit(ticket, marked_segments(message[1]), message_kind=message[0]))
        else:
            hits.append(TicketHit(ticket, marked_segments(ticket.headline)))
    return hits, more


def _headline(column: str, query: SearchQuery, *, highlight_all: bool = False) -> SearchHeadline:
    # Our marks must be the only ones in the text: control characters are removed first.
    text = Func(F(column), Value("[\\x01-\\x08\\x0b-\\x1f]"), Value(" "), Value("g"), function="regexp_replace")
    if highlight_all:
        return SearchHeadline(text, query, config=CONFIG, start_sel=START_SEL, stop_sel=STOP_SEL, highlight_all=True)
    return SearchHeadline(
        text,
        query,
        config=CONFIG,
        start_sel=START_SEL,
        stop_sel=STOP_SEL,
        max_words=30,
        min_words=12,
        max_fragments=2,
        fragment_delimiter=" … ",
    )


def _pg_people(name_rows: QuerySet, address_rows: QuerySet, fetch: QuerySet, limit: int) -> tuple[list, bool]:
    scored = [(key, rank) for key, rank, _source, _pk in name_rows.union(address_rows, all=True)]
    ids, more = _best(scored, limit)
    if not ids:
        return [], False
    found = {obj.pk: obj for obj in fetch.filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found], more


def _pg_contacts(user: UserLike, terms: Terms, limit: int) -> tuple[list[Contact], bool]:
    query = people_query(terms)
    return _pg_people(
        _ranked(contact_name_matches(user, terms), "pk", name_vector(), query, 0),
        _ranked(contact_email_matches(user, terms), "contact_id", email_vector(), query, 1),
        contacts_visible_to(user).prefetch_related(
            Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "email"))
        ),
        limit,
    )


def _pg_organizations(user: UserLike, terms: Terms, limit: int) -> tuple[list[Organization], bool]:
    query = people_query(terms)
    return _pg_people(
        _ranked(organization_name_matches(user, terms), "pk", name_vector(), query, 0),
        _ranked(organization_domain_matches(user, terms), "organization_id", domain_vector(), query, 1),
        organizations_visible_to(user).prefetch_related("domains"),
        limit,
    )


# --- SQLite (demo): substrings ----------------------------------------------------------------------


def _all_words(column: str, words: Sequence[str]) -> Q:
    condition = Q()
    for word in words:
        condition &= Q(**{f"{column}__icontains": word})
    return condition


def _like_tickets(user: UserLike, terms: Terms, limit: int) -> tuple[list[TicketHit], bool]:
    words = terms.words
    by_subject = list(
        selectors.tickets_visible_to(user)
        .filter(_all_words("subject", words))
        .order_by("-id")
        .values_list("pk", flat=True)[: limit + 1]
    )
    principal = principal_for(user)
    condition = selectors._scope_q(ticket_scope(principal), prefix="ticket__")
    messages_qs = (
        Message.objects.none()
        if condition is None
        else Message.objects.filter(condition, _all_words("body_text", words))
    )
    if not sees_internal_messages(principal):
        messages_qs = messages_qs.filter(kind__in=PUBLIC_MESSAGE_KINDS)
    best_message: dict[int, tuple[int, str, str]] = {}
    for pk, ticket_id, kind, body in messages_qs.order_by("-id").values_list("pk", "ticket_id", "kind", "body_text")[
        :CANDIDATES
    ]:
        best_message.setdefault(ticket_id, (pk, kind, body))
    ordered = list(dict.fromkeys([*by_subject, *best_message]))
    ticket_ids, more = ordered[:limit], len(ordered) > limit
    tickets = {t.pk: t for t in selectors.tickets_visible_to(user).filter(pk__in=ticket_ids)}
    hits = []
    for ticket_id in ticket_ids:
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue
        if ticket_id in best_message:
            _pk, kind, body = best_message[ticket_id]
            hits.append(TicketHit(ticket, excerpt_segments(body, words), message_kind=kind))
        else:
            hits.append(TicketHit(ticket, excerpt_segments(ticket.subject, words, width=len(ticket.subject) + 1)))
    return hits, more


def _like_contacts(user: UserLike, terms: Terms, limit: int) -> tuple[list[Contact], bool]:
    condition = Q()
    for word in terms.words:
        condition &= Q(name__icontains=word) | Q(emails__email__icontains=word)
    ids = list(
        contacts_visible_to(user).filter(condition).order_by("-id").values_list("pk", flat=True).distinct()[: limit + 1]
    )
    found = {c.pk: c for c in contacts_visible_to(user).filter(pk__in=ids[:limit]).prefetch_related("emails")}
    return [found[pk] for pk in ids[:limit] if pk in found], len(ids) > limit


def _like_organizations(user: UserLike, terms: Terms, limit: int) -> tuple[list[Organization], bool]:
    condition = Q()
    for word in terms.words:
        condition &= Q(name__icontains=word) | Q(domains__domain__icontains=word)
    ids = list(
        organizations_visible_to(user)
        .filter(condition)
        .order_by("-id")
        .values_list("pk", flat=True)
        .distinct()[: limit + 1]
    )
    found = {o.pk: o for o in organizations_visible_to(user).filter(pk__in=ids[:limit]).prefetch_related("domains")}
    return [found[pk] for pk in ids[:limit] if pk in found], len(ids) > limit
