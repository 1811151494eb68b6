"""Demo data: a believable German/English B2B and B2C desk for ``manage.py seed_demo``.

The desk belongs to *Lumina*, a fictional maker of smart-home devices (sold to consumers) and of
the fleet platform *Lumina Connect* (sold to companies). Everything is deterministic for a seed.

- Configuration, agents, organizations and their contacts are created once, by natural key, so a
  second run (``append=True``) reuses them. Agents, organizations and B2B contacts go through
  ``accounts.services``; consumers are bulk-inserted (people, not tickets).
- Tickets are created only through :func:`tickets.services.tickets_create_bulk`, one transaction
  per batch, generated lazily so memory stays bounded at a million tickets.

All email addresses use reserved ``.example`` domains or ``example.com/.org/.net`` (RFC 2606), so
nothing seeded here can ever mail a real person.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractUser
from django.db import reset_queries, transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.choices import AgentRole, EntitlementPeriod, EntitlementUnit, Tier
from accounts.models import (
    AgentProfile,
    Contact,
    ContactEmail,
    Contract,
    Entitlement,
    Organization,
    Skill,
    Team,
)
from tickets.choices import Channel, MessageKind, Priority, Status, ViewVisibility
from tickets.models import Macro, Message, SavedView, SLAPolicy, SLATarget, Tag, Ticket, TicketEvent, TicketType
from tickets.services import NewMessage, NewTicket, tickets_create_bulk

DEMO_PASSWORD = "demo"  # noqa: S105 - printed demo login, seeded data only
VENDOR_DOMAIN = "lumina.example"
B2B_SHARE = 0.35
HISTORY_DAYS = 90

# --- Results and options ------------------------------------------------------------------------


class SeedRefused(Exception):
    """The database already holds tickets and the caller did not ask to append."""


@dataclass(frozen=True)
class SeedOptions:
    tickets: int = 10_000
    customers: int = 1_000
    organizations: int = 10
    seed: int = 42
    batch_size: int = 2_000
    append: bool = False


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    password: str
    note: str


@dataclass
class SeedResult:
    logins: list[Login]
    created: dict[str, int]
    totals: dict[str, int]
    seconds: float


Progress = Callable[[int, int, float], None]  # done, total, seconds so far


# --- Static catalogue: teams, agents, SLA, types --------------------------------------------------


@dataclass(frozen=True)
class TeamSeed:
    key: str
    name: str
    email: str
    description: str
    escalation: bool = False


TEAMS: tuple[TeamSeed, ...] = (
    TeamSeed("key_accounts", "Key Accounts", "keyaccounts@lumina.example", "Named support for strategic customers."),
    TeamSeed("consumer", "Consumer Support", "support@lumina.example", "Orders, accounts and devices for consumers."),
    TeamSeed("technical", "Technical Support", "tech@lumina.example", "Second line: platform, API, SSO, integrations."),
    TeamSeed("billing", "Billing", "billing@lumina.example", "Invoices, payments, refunds and subscriptions."),
    TeamSeed("escalations", "Escalations", "escalations@lumina.example", "Major incidents and escalated cases.", True),
)


@dataclass(frozen=True)
class AgentSeed:
    username: str
    first_name: str
    last_name: str
    role: str
    teams: tuple[str, ...]
    skills: tuple[str, ...]
    time_zone: str
    language: str
    superuser: bool = False


AGENTS: tuple[AgentSeed, ...] = (
    AgentSeed(
        "sabine",
        "Sabine",
        "Krüger",
        AgentRole.ADMIN,
        ("escalations",),
        ("German", "English", "SSO / SAML"),
        "Europe/Berlin",
        "de",
        superuser=True,
    ),
    AgentSeed(
        "jonas",
        "Jonas",
        "Becker",
        AgentRole.TEAM_LEAD,
        ("key_accounts",),
        ("German", "English", "Contracts"),
        "Europe/Berlin",
        "de",
    ),
    AgentSeed(
        "emma", "Emma", "Walsh", AgentRole.AGENT, ("key_accounts",), ("English", "Onboarding"), "Europe/London", "en"
    ),
    AgentSeed(
        "tobias",
        "Tobias",
        "Wagner",
        AgentRole.AGENT,
        ("key_accounts", "technical"),
        ("German", "SAP integration"),
        "Europe/Vienna",
        "de",
    ),
    AgentSeed(
        "lena",
        "Lena",
        "Hoffmann",
        AgentRole.TEAM_LEAD,
        ("consumer",),
        ("German", "English", "Smart home devices"),
        "Europe/Berlin",
        "de",
    ),
    AgentSeed(
        "max", "Max", "Richter", AgentRole.AGENT, ("consumer",), ("German", "Smart home devices"), "Europe/Berlin", "de"
    ),
    AgentSeed("olivia", "Olivia", "Bennett", AgentRole.AGENT, ("consumer",), ("English",), "Europe/Dublin", "en"),
    AgentSeed(
        "daniel",
        "Daniel",
        "Fischer",
        AgentRole.TEAM_LEAD,
        ("technical", "escalations"),
        ("German", "API", "SSO / SAML"),
        "Europe/Zurich",
        "de",
    ),
    AgentSeed("priya", "Priya", "Nair", AgentRole.AGENT, ("technical",), ("English", "API"), "Europe/London", "en"),
    AgentSeed(
        "jan",
        "Jan",
        "Kowalski",
        AgentRole.AGENT,
        ("technical", "escalations"),
        ("German", "English", "Networking"),
        "Europe/Warsaw",
        "de",
    ),
    AgentSeed(
        "claudia",
        "Claudia",
        "Neumann",
        AgentRole.TEAM_LEAD,
        ("billing",),
        ("German", "Billing & invoicing"),
        "Europe/Berlin",
        "de",
    ),
    AgentSeed(
        "ryan",
        "Ryan",
        "Murphy",
        AgentRole.AGENT,
        ("billing", "consumer"),
        ("English", "Billing & invoicing"),
        "America/New_York",
        "en",
    ),
)

# (username, what to show in the login table)
AGENT_LOGINS: tuple[tuple[str, str], ...] = (
    ("sabine", "Admin agent (staff, superuser: /admin/)"),
    ("max", "B2C agent, Consumer Support"),
    ("emma", "Key-account agent, Key Accounts"),
    ("lena", "Team lead, Consumer Support"),
)

TICKET_TYPES: tuple[tuple[str, str], ...] = (
    ("Question", "A customer asks how something works or about their account."),
    ("Incident", "Something is broken for the customer right now."),
    ("Problem", "The root cause behind one or more incidents."),
    ("Task", "A change or piece of work the customer asked for."),
)

# Policy name -> (description, is_default, {priority: (first response, next response, resolution)} in minutes)
SLA_POLICIES: dict[str, tuple[str, bool, dict[str, tuple[int, int, int]]]] = {
    "Standard (B2C)": (
        "Consumers and standard business customers, Mon-Fri 08:00-18:00.",
        True,
        {"urgent": (60, 120, 480), "high": (240, 480, 1440), "normal": (480, 960, 2880), "low": (1440, 2880, 4800)},
    ),
    "Enterprise": (
        "Enterprise contracts, Mon-Fri 07:00-20:00.",
        False,
        {"urgent": (30, 60, 240), "high": (60, 240, 960), "normal": (240, 480, 1920), "low": (480, 960, 2880)},
    ),
    "Strategic 24x7": (
        "Strategic accounts, round the clock for urgent incidents.",
        False,
        {"urgent": (15, 30, 240), "high": (30, 120, 480), "normal": (120, 240, 960), "low": (240, 480, 1920)},
    ),
}
TIER_POLICY = {Tier.STRATEGIC: "Strategic 24x7", Tier.ENTERPRISE: "Enterprise", Tier.STANDARD: "Standard (B2C)"}

TAGS: tuple[str, ...] = (
    "login", "password-reset", "shipping", "order", "refund", "returns", "payment", "billing", "app", "bug",
    "account", "cancellation", "subscription", "gdpr", "warranty", "hardware", "sso", "outage", "api", "licences",
    "onboarding", "invoice", "purchase-order", "sap", "integration", "feature-request", "reporting", "training",
    "performance", "renewal", "contract", "vip", "escalated",
)  # fmt: skip


# --- People ---------------------------------------------------------------------------------------

FIRST_NAMES = {
    "de": (
        "Anna", "Lukas", "Julia", "Felix", "Sophie", "Laura", "Paul", "Lea", "Leon", "Marie", "Finn", "Hannah",
        "Elias", "Emilia", "Noah", "Mia", "Ben", "Lina", "Tim", "Katharina", "Stefan", "Sandra", "Thomas", "Andrea",
        "Michael", "Petra", "Frank", "Birgit", "Jürgen", "Uwe", "Monika", "Klaus", "Heike", "Matthias", "Nicole",
        "Christian", "Anja", "Sebastian", "Jana", "Florian", "Nina", "Carina", "Dirk", "Sven", "Ute", "Özlem", "Mehmet",
    ),
    "en": (
        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Emily", "Charlie", "Sophia", "Grace", "James",
        "Lily", "William", "Chloe", "Daniel", "Ella", "Samuel", "Ruby", "Liam", "Olivia", "Noah", "Ethan", "Mia",
        "Lucas", "Hannah", "Matthew", "Zoe", "Ryan", "Megan", "Sean", "Aisha", "Arjun", "Priya", "Mohammed", "Wei",
    ),
}  # fmt: skip
LAST_NAMES = {
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
        "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
        "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
        "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Huber", "Kaiser", "Fuchs", "Peters",
        "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Vogel", "Friedrich", "Keller", "Günther", "Berger", "Winkler",
        "Roth", "Beck", "Lorenz", "Baumann", "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus",
        "Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto", "Sommer", "Groß", "Seidel", "Heinrich", "Brandt",
        "Haas", "Schreiber", "Graf", "Dietrich", "Ziegler", "Kuhn", "Pohl", "Engel", "Horn", "Busch", "Bergmann",
        "Voigt", "Sauer", "Arnold", "Pfeiffer", "Yılmaz", "Kaya", "Nowak",
    ),
    "en": (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
        "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel",
        "Khan", "Lewis", "Phillips", "Mason", "Mitchell", "Rose", "Davis", "Cox", "Morgan", "Moore", "Martin",
        "Price", "Hughes", "Murphy", "O'Brien", "Kelly", "Walsh", "Byrne", "Campbell", "Stewart", "Anderson",
        "Scott", "Reid", "Murray", "Cooper", "Chen", "Singh",
    ),
}  # fmt: skip
CONSUMER_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example", "inbox.example")
B2B_ROLES = (
    "Head of IT", "Operations Manager", "Procurement", "Office Manager", "Finance", "Service Coordinator",
    "Developer", "Fleet Manager", "Project Lead", "Team Assistant",
)  # fmt: skip
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i", "é": "e", "'": "", " ": ""})


def _rng(seed: int, stream: str) -> random.Random:
    """An independent, reproducible random stream per purpose, so changing one count never shifts the others."""
    return random.Random(f"{seed}:{stream}")  # noqa: S311 - demo data, not security


def _ascii(value: str) -> str:
    return "".join(ch for ch in value.lower().translate(_ASCII) if ch.isalnum())


def _phone(rng: random.Random, language: str) -> str:
    if language == "de":
        return (
            f"+49 {rng.choice(('151', '160', '170', '176', '30', '40', '89', '221'))} {rng.randint(1000000, 9999999)}"
        )
    return f"+44 {rng.choice(('7700', '20', '161', '118'))} {rng.randint(100000, 999999)}"


# --- Organizations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgSeed:
    name: str
    domain: str
    tier: str
    acv: int
    industry: str
    address: str
    phone: str
    language: str
    manager: str
    parent: int | None = None  # index of the parent in the list
    notes: str = ""


ORGANIZATIONS: tuple[OrgSeed, ...] = (
    OrgSeed(
        "Nordwind Logistik GmbH", "nordwind-logistik.example", Tier.STRATEGIC, 480_000, "Logistics",
        "Am Sandtorkai 50\n20457 Hamburg\nDeutschland", "+49 40 3344 0", "de", "jonas",
        notes="Largest fleet customer (2,400 vehicles). Quarterly service review with the COO.",
    ),
    OrgSeed(
        "Brandt & Söhne Maschinenbau AG", "brandt-maschinenbau.example", Tier.STRATEGIC, 365_000, "Manufacturing",
        "Industriestraße 12\n70565 Stuttgart\nDeutschland", "+49 711 908 20", "de", "tobias",
        notes="SAP S/4HANA integration live since March; changes only in the maintenance window (Sun 02-06).",
    ),
    OrgSeed(
        "Nordwind Logistik Österreich GmbH", "nordwind-logistik-at.example", Tier.ENTERPRISE, 120_000, "Logistics",
        "Donau-City-Straße 7\n1220 Wien\nÖsterreich", "+43 1 260 55", "de", "jonas", parent=0,
    ),
    OrgSeed(
        "Thames Valley Energy Ltd", "thamesvalley-energy.example", Tier.ENTERPRISE, 210_000, "Energy",
        "Kings Meadow Road 4\nReading RG1 8DQ\nUnited Kingdom", "+44 118 496 0700", "en", "emma",
        notes="Field engineers use the mobile app; outages hit 600 technicians at once.",
    ),
    OrgSeed(
        "Helix Pharma SE", "helix-pharma.example", Tier.ENTERPRISE, 175_000, "Pharmaceuticals",
        "Rheinuferstraße 3\n55131 Mainz\nDeutschland", "+49 6131 555 0", "de", "jonas",
        notes="GxP environment: every change needs a written change request.",
    ),
    OrgSeed(
        "Kessler Retail Group", "kessler-retail.example", Tier.ENTERPRISE, 140_000, "Retail",
        "Königsallee 60\n40212 Düsseldorf\nDeutschland", "+49 211 870 40", "de", "tobias",
    ),
    OrgSeed(
        "Meridian Insurance plc", "meridian-insurance.example", Tier.ENTERPRISE, 98_000, "Insurance",
        "30 Gresham Street\nLondon EC2V 7QP\nUnited Kingdom", "+44 20 7946 0321", "en", "emma",
    ),
    OrgSeed(
        "Alpenblick Hotels GmbH", "alpenblick-hotels.example", Tier.STANDARD, 36_000, "Hospitality",
        "Seestraße 8\n83471 Berchtesgaden\nDeutschland", "+49 8652 9790", "de", "emma",
    ),
    OrgSeed(
        "Stadtwerke Lindenau", "stadtwerke-lindenau.example", Tier.STANDARD, 52_000, "Public utilities",
        "Rathausplatz 1\n04177 Leipzig\nDeutschland", "+49 341 555 10", "de", "tobias",
        notes="Public tender customer: invoices need the order number (Bestellnummer) printed.",
    ),
    OrgSeed(
        "Fuchs Medientechnik GmbH", "fuchs-medientechnik.example", Tier.STANDARD, 18_500, "Media technology",
        "Schanzenstraße 22\n51063 Köln\nDeutschland", "+49 221 650 33", "de", "jonas",
    ),
    OrgSeed(
        "Baltic Freight Solutions Ltd", "balticfreight.example", Tier.STANDARD, 24_000, "Logistics",
        "12 Harbour Road\nHull HU1 2AA\nUnited Kingdom", "+44 1482 600 120", "en", "emma",
    ),
    OrgSeed(
        "Weber Bau KG", "weber-bau.example", Tier.STANDARD, 15_000, "Construction",
        "Am Bauhof 5\n93049 Regensburg\nDeutschland", "+49 941 466 20", "de", "tobias",
    ),
)  # fmt: skip
_GEN_PREFIX = ("Rhein", "Elbe", "Isar", "Weser", "Alster", "Linden", "Falken", "Harbour", "Summit", "Northgate")
_GEN_CORE = ("Logistik", "Systems", "Medizintechnik", "Consulting", "Automotive", "Foods", "Energie", "Software")
_GEN_LEGAL = ("GmbH", "AG", "KG", "Ltd", "SE")
_GEN_INDUSTRY = {
    "Logistik": "Logistics",
    "Systems": "IT services",
    "Medizintechnik": "Medical devices",
    "Consulting": "Consulting",
    "Automotive": "Automotive",
    "Foods": "Food",
    "Energie": "Energy",
    "Software": "Software",
}


def organization_seeds(count: int, rng: random.Random) -> list[OrgSeed]:
    """The hand-written organizations first, then generated ones with unique names and domains."""
    seeds = list(ORGANIZATIONS[:count])
    for index in range(len(seeds), count):
        prefix, core, legal = rng.choice(_GEN_PREFIX), rng.choice(_GEN_CORE), rng.choice(_GEN_LEGAL)
        language = "en" if legal == "Ltd" or prefix in ("Harbour", "Summit", "Northgate") else "de"
        tier = rng.choices((Tier.ENTERPRISE, Tier.STANDARD), weights=(1, 4))[0]
        seeds.append(
            OrgSeed(
                name=f"{prefix} {core} {legal} ({index + 1})",
                domain=f"{_ascii(prefix)}-{_ascii(core)}-{index + 1}.example",
                tier=tier,
                acv=rng.randrange(10_000, 150_000, 500),
                industry=_GEN_INDUSTRY[core],
                address=f"Hauptstraße {rng.randint(1, 120)}\n{rng.randint(10000, 99999)} Musterstadt",
                phone=_phone(rng, language),
                language=language,
                manager=rng.choice(("jonas", "emma", "tobias")),
            )
        )
    return seeds


# --- Ticket catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """One kind of request, in both languages. Texts use ``str.format`` fields (see ``_fields``)."""

    key: str
    b2b: bool
    team: str
    type: str
    tags: tuple[str, ...]
    priorities: tuple[int, int, int, int]  # weights for low, normal, high, urgent
    subjects: dict[str, tuple[str, ...]]
    body: dict[str, str]
    detail: dict[str, str]  # what the agent asks for
    solution: dict[str, str]


TOPICS: tuple[Topic, ...] = (
    Topic(
        "login", False, "consumer", "Question", ("login", "password-reset"), (20, 70, 10, 0),
        {
            "en": ("Can't log in to my account", "Password reset email never arrives"),
            "de": ("Kann mich nicht mehr einloggen", "Mail zum Passwort-Zurücksetzen kommt nicht an"),
        },
        {
            "en": "Since yesterday I can't log in to the Lumina app. I requested a password reset twice but no "
            "email arrived (I checked the spam folder).",
            "de": "Seit gestern komme ich nicht mehr in die Lumina-App. Ich habe zweimal ein neues Passwort "
            "angefordert, aber es kam keine E-Mail an (den Spam-Ordner habe ich geprüft).",
        },
        {
            "en": "the email address you registered with and a screenshot of the error message",
            "de": "die E-Mail-Adresse, mit der Sie sich registriert haben, und einen Screenshot der Fehlermeldung",
        },
        {
            "en": "I have reset your password and sent a new link to your address. The link is valid for 24 hours.",
            "de": "ich habe Ihr Passwort zurückgesetzt und einen neuen Link an Ihre Adresse geschickt. Der Link ist "
            "24 Stunden gültig.",
        },
    ),
    Topic(
        "delivery", False, "consumer", "Question", ("shipping", "order"), (15, 70, 15, 0),
        {
            "en": ("Where is my order {order}?", "Order {order} still not delivered"),
            "de": ("Wo bleibt meine Bestellung {order}?", "Bestellung {order} noch nicht angekommen"),
        },
        {
            "en": "I ordered a {product} ten days ago (order {order}) and it still hasn't arrived. The tracking "
            "link has shown 'in transit' for a week.",
            "de": "Ich habe vor zehn Tagen einen {product} bestellt (Bestellung {order}) und er ist immer noch "
            "nicht da. Die Sendungsverfolgung zeigt seit einer Woche 'in Zustellung'.",
        },
        {"en": "your delivery address and postcode", "de": "Ihre Lieferadresse mit Postleitzahl"},
        {
            "en": "the parcel was lost by the carrier. I have sent a replacement by express today; you will get a "
            "new tracking number by email.",
            "de": "das Paket ist beim Versanddienstleister verloren gegangen. Ich habe Ihnen heute per Express "
            "Ersatz geschickt; die neue Sendungsnummer kommt per E-Mail.",
        },
    ),
    Topic(
        "refund", False, "billing", "Question", ("refund", "returns"), (25, 65, 10, 0),
        {
            "en": ("Refund for returned {product}", "Return of order {order}"),
            "de": ("Erstattung für zurückgeschickten {product}", "Rücksendung Bestellung {order}"),
        },
        {
            "en": "I sent the {product} back three weeks ago (order {order}) but haven't received my money yet.",
            "de": "Ich habe den {product} vor drei Wochen zurückgeschickt (Bestellung {order}), aber noch kein Geld "
            "zurückbekommen.",
        },
        {"en": "the return tracking number", "de": "die Sendungsnummer der Rücksendung"},
        {
            "en": "your return has been booked and the refund was issued today. Depending on your bank it takes "
            "3-5 working days to show up.",
            "de": "Ihre Rücksendung ist verbucht und die Erstattung wurde heute angewiesen. Je nach Bank dauert es "
            "3-5 Werktage, bis das Geld auf Ihrem Konto ist.",
        },
    ),
    Topic(
        "double_charge", False, "billing", "Incident", ("payment", "billing"), (0, 40, 60, 0),
        {
            "en": ("Charged twice for my subscription", "Double payment on my credit card"),
            "de": ("Abo doppelt abgebucht", "Doppelte Abbuchung von meiner Kreditkarte"),
        },
        {
            "en": "My credit card was charged twice for Lumina Plus this month (2 x 9.99 EUR). Please refund one "
            "of the payments.",
            "de": "Meine Kreditkarte wurde diesen Monat zweimal für Lumina Plus belastet (2 x 9,99 EUR). Bitte "
            "erstatten Sie eine der Zahlungen.",
        },
        {"en": "the last four digits of the card", "de": "die letzten vier Ziffern der Karte"},
        {
            "en": "you are right, our payment provider retried a payment that had already gone through. The "
            "duplicate has been refunded.",
            "de": "Sie haben recht, unser Zahlungsdienstleister hat eine bereits erfolgreiche Zahlung wiederholt. "
            "Die doppelte Abbuchung wurde erstattet.",
        },
    ),
    Topic(
        "app_crash", False, "technical", "Incident", ("app", "bug"), (10, 55, 33, 2),
        {
            "en": ("App crashes on start", "Lumina app closes immediately after update"),
            "de": ("App stürzt beim Start ab", "Lumina-App schließt sich nach dem Update sofort"),
        },
        {
            "en": "Since the last update the Lumina app crashes as soon as I open it. I can't control my "
            "{product} at all any more.",
            "de": "Seit dem letzten Update stürzt die Lumina-App direkt beim Öffnen ab. Ich kann meinen {product} "
            "gar nicht mehr steuern.",
        },
        {
            "en": "your phone model, the Android or iOS version and the app version (Settings > About)",
            "de": "Ihr Handymodell, die Android- bzw. iOS-Version und die App-Version (Einstellungen > Über)",
        },
        {
            "en": "this was a bug in version 4.2.0 on some Android devices. Version 4.2.1 fixes it; please update "
            "from the store.",
            "de": "das war ein Fehler in Version 4.2.0 auf einigen Android-Geräten. Version 4.2.1 behebt ihn; bitte "
            "aktualisieren Sie die App im Store.",
        },
    ),
    Topic(
        "address_change", False, "consumer", "Task", ("account",), (40, 60, 0, 0),
        {
            "en": ("Please change my address", "Moved house - new billing address"),
            "de": ("Bitte Adresse ändern", "Umzug - neue Rechnungsadresse"),
        },
        {
            "en": "I have moved. Please update my delivery and billing address for the open order {order}.",
            "de": "Ich bin umgezogen. Bitte ändern Sie meine Liefer- und Rechnungsadresse, auch für die offene "
            "Bestellung {order}.",
        },
        {"en": "the new address including postcode", "de": "die neue Adresse mit Postleitzahl"},
        {
            "en": "I have updated both addresses, the open order will be shipped to the new one.",
            "de": "ich habe beide Adressen geändert, die offene Bestellung geht an die neue Adresse.",
        },
    ),
    Topic(
        "cancel", False, "billing", "Task", ("cancellation", "subscription"), (30, 65, 5, 0),
        {
            "en": ("Cancel my Lumina Plus subscription", "Cancellation"),
            "de": ("Kündigung Lumina Plus", "Abo kündigen"),
        },
        {
            "en": "Please cancel my Lumina Plus subscription at the end of the current billing period.",
            "de": "Hiermit kündige ich mein Lumina-Plus-Abo zum Ende des aktuellen Abrechnungszeitraums.",
        },
        {"en": "the email address of the account", "de": "die E-Mail-Adresse des Kontos"},
        {
            "en": "your subscription has been cancelled and ends at the end of the month. You will not be "
            "charged again.",
            "de": "Ihr Abo ist gekündigt und endet zum Monatsende. Es erfolgen keine weiteren Abbuchungen.",
        },
    ),
    Topic(
        "gdpr", False, "consumer", "Task", ("gdpr", "account"), (10, 80, 10, 0),
        {
            "en": ("Request for a copy of my data (GDPR)", "Please delete my account"),
            "de": ("Auskunft nach Art. 15 DSGVO", "Bitte mein Konto löschen"),
        },
        {
            "en": "Under the GDPR I would like a copy of all personal data you hold about me, and then my "
            "account deleted.",
            "de": "Gemäß DSGVO bitte ich um Auskunft über alle zu meiner Person gespeicherten Daten und "
            "anschließend um Löschung meines Kontos.",
        },
        {
            "en": "a confirmation from the email address of the account",
            "de": "eine Bestätigung von der E-Mail-Adresse des Kontos",
        },
        {
            "en": "the data export was sent to you as an encrypted download link; the account will be deleted "
            "after 14 days.",
            "de": "der Datenexport wurde Ihnen als verschlüsselter Download-Link geschickt; das Konto wird nach "
            "14 Tagen gelöscht.",
        },
    ),
    Topic(
        "warranty", False, "consumer", "Problem", ("warranty", "hardware"), (10, 60, 28, 2),
        {
            "en": ("{product} stopped working", "Warranty claim for {product}"),
            "de": ("{product} funktioniert nicht mehr", "Garantiefall {product}"),
        },
        {
            "en": "My {product} (bought 8 months ago) no longer turns on. The LED stays off even after a reset.",
            "de": "Mein {product} (vor 8 Monaten gekauft) lässt sich nicht mehr einschalten. Die LED bleibt auch "
            "nach einem Reset aus.",
        },
        {"en": "the serial number and a copy of the receipt", "de": "die Seriennummer und eine Kopie des Kaufbelegs"},
        {
            "en": "this is covered by the warranty. A prepaid return label is on its way; you will get a new "
            "device as soon as we receive the old one.",
            "de": "das ist ein Garantiefall. Ein vorfrankiertes Rücksendeetikett ist unterwegs; Sie bekommen ein "
            "neues Gerät, sobald das alte bei uns ist.",
        },
    ),
    Topic(
        "sso", True, "technical", "Incident", ("sso", "outage"), (0, 30, 50, 20),
        {
            "en": ("SSO login fails for all users", "SAML error after certificate rollover"),
            "de": ("SSO-Anmeldung schlägt für alle Nutzer fehl", "SAML-Fehler nach Zertifikatswechsel"),
        },
        {
            "en": "Since this morning none of our users can sign in to Lumina Connect via SSO. The error is "
            "'SAML response signature invalid'. We rotated our IdP certificate yesterday.",
            "de": "Seit heute Morgen kann sich keiner unserer Nutzer mehr per SSO an Lumina Connect anmelden. "
            "Fehler: 'SAML response signature invalid'. Wir haben gestern das IdP-Zertifikat getauscht.",
        },
        {
            "en": "the new IdP metadata XML or the new signing certificate",
            "de": "die neuen IdP-Metadaten (XML) oder das neue Signaturzertifikat",
        },
        {
            "en": "we have imported the new signing certificate for your tenant. Sign-in works again; please ask "
            "your users to retry.",
            "de": "wir haben das neue Signaturzertifikat für Ihren Mandanten hinterlegt. Die Anmeldung "
            "funktioniert wieder; bitte lassen Sie Ihre Nutzer es erneut versuchen.",
        },
    ),
    Topic(
        "api", True, "technical", "Incident", ("api", "integration"), (5, 45, 42, 8),
        {
            "en": ("API returns 500 errors", "Lots of HTTP 429 from the API since today"),
            "de": ("API liefert HTTP 500", "Seit heute viele HTTP-429-Fehler von der API"),
        },
        {
            "en": "Our nightly sync against the Lumina Connect API fails with HTTP 500 on /v2/vehicles since "
            "about 02:00. Request IDs are in the attached log excerpt.",
            "de": "Unser nächtlicher Abgleich mit der Lumina-Connect-API bricht seit ca. 02:00 Uhr mit HTTP 500 "
            "auf /v2/vehicles ab. Request-IDs stehen im Log-Auszug.",
        },
        {
            "en": "two or three request IDs and the exact time (UTC)",
            "de": "zwei, drei Request-IDs und die Uhrzeit (UTC)",
        },
        {
            "en": "a faulty deployment caused the errors; it was rolled back at 09:40 UTC. Your sync should run "
            "normally again tonight.",
            "de": "ein fehlerhaftes Deployment hat die Fehler verursacht; es wurde um 09:40 UTC zurückgerollt. Ihr "
            "Abgleich sollte heute Nacht wieder normal laufen.",
        },
    ),
    Topic(
        "licences", True, "key_accounts", "Task", ("licences", "onboarding"), (30, 65, 5, 0),
        {
            "en": ("25 additional user licences", "Onboarding of our new depot"),
            "de": ("25 zusätzliche Nutzerlizenzen", "Anbindung unseres neuen Standorts"),
        },
        {
            "en": "We are opening a new depot next month and need 25 more user licences for {org}, ideally with "
            "the same roles as our Leeds team.",
            "de": "Wir eröffnen nächsten Monat einen neuen Standort und brauchen 25 weitere Nutzerlizenzen für "
            "{org}, am besten mit denselben Rollen wie am Standort Bremen.",
        },
        {"en": "the purchase order number for the licences", "de": "die Bestellnummer für die Lizenzen"},
        {
            "en": "the 25 licences are active and the roles copied. Your admins can invite the users now.",
            "de": "die 25 Lizenzen sind freigeschaltet und die Rollen übernommen. Ihre Admins können die Nutzer "
            "jetzt einladen.",
        },
    ),
    Topic(
        "invoice", True, "billing", "Question", ("invoice", "purchase-order"), (30, 60, 10, 0),
        {
            "en": ("Invoice {invoice} without PO number", "Question about invoice {invoice}"),
            "de": ("Rechnung {invoice} ohne Bestellnummer", "Rückfrage zur Rechnung {invoice}"),
        },
        {
            "en": "Our accounts payable rejected invoice {invoice} because the purchase order number is missing. "
            "Could you reissue it?",
            "de": "Unsere Kreditorenbuchhaltung hat die Rechnung {invoice} zurückgewiesen, weil die Bestellnummer "
            "fehlt. Können Sie sie neu ausstellen?",
        },
        {"en": "the purchase order number to print", "de": "die Bestellnummer, die aufgedruckt werden soll"},
        {
            "en": "attached is the corrected invoice with your PO number. The original has been cancelled.",
            "de": "anbei die korrigierte Rechnung mit Ihrer Bestellnummer. Die ursprüngliche Rechnung wurde "
            "storniert.",
        },
    ),
    Topic(
        "sap", True, "technical", "Problem", ("sap", "integration"), (5, 50, 40, 5),
        {
            "en": ("SAP interface: orders not transferred", "IDoc errors in the SAP connector"),
            "de": ("SAP-Schnittstelle: Aufträge werden nicht übertragen", "IDoc-Fehler im SAP-Connector"),
        },
        {
            "en": "Since the weekend some orders are not transferred from SAP to Lumina Connect. The connector "
            "log shows status 51 for the affected IDocs.",
            "de": "Seit dem Wochenende werden einzelne Aufträge nicht mehr von SAP an Lumina Connect übertragen. "
            "Im Connector-Log stehen die betroffenen IDocs mit Status 51.",
        },
        {"en": "the numbers of two affected IDocs", "de": "die Nummern von zwei betroffenen IDocs"},
        {
            "en": "the root cause is a new unit of measure that the mapping did not know. We added it; the "
            "stuck IDocs were reprocessed.",
            "de": "Ursache war eine neue Mengeneinheit, die das Mapping nicht kannte. Wir haben sie ergänzt; die "
            "hängenden IDocs wurden nachverarbeitet.",
        },
    ),
    Topic(
        "feature", True, "key_accounts", "Question", ("feature-request", "reporting"), (50, 45, 5, 0),
        {
            "en": ("Export of trip reports to Excel?", "Feature request: scheduled reports"),
            "de": ("Export der Fahrtenberichte nach Excel?", "Wunsch: zeitgesteuerte Berichte"),
        },
        {
            "en": "Is it possible to export the monthly trip reports as Excel files, or to have them emailed "
            "automatically to our controlling team?",
            "de": "Können die monatlichen Fahrtenberichte als Excel-Datei exportiert oder automatisch an unser "
            "Controlling geschickt werden?",
        },
        {"en": "which columns you need in the export", "de": "welche Spalten Sie im Export benötigen"},
        {
            "en": "an Excel export is available under Reports > Export. Scheduled emails are on the roadmap for "
            "Q3; I have added {org} to the list of interested customers.",
            "de": "ein Excel-Export ist unter Berichte > Export verfügbar. Zeitgesteuerte Mails sind für Q3 "
            "geplant; ich habe {org} auf die Interessentenliste gesetzt.",
        },
    ),
    Topic(
        "training", True, "key_accounts", "Task", ("training", "onboarding"), (40, 55, 5, 0),
        {
            "en": ("Admin training for new colleagues", "Request: on-site workshop"),
            "de": ("Admin-Schulung für neue Kollegen", "Anfrage: Workshop vor Ort"),
        },
        {
            "en": "Three new colleagues will administer Lumina Connect for {org}. Could you run a two-hour "
            "remote training for them?",
            "de": "Drei neue Kolleginnen und Kollegen übernehmen die Administration von Lumina Connect bei {org}. "
            "Können Sie eine zweistündige Remote-Schulung anbieten?",
        },
        {"en": "two or three possible dates", "de": "zwei, drei mögliche Termine"},
        {
            "en": "the training is booked; the invitation with the meeting link has been sent to all "
            "participants. It counts against your contract's training hours.",
            "de": "die Schulung ist gebucht; die Einladung mit dem Meeting-Link ging an alle Teilnehmenden. Sie "
            "wird auf das Schulungskontingent Ihres Vertrags angerechnet.",
        },
    ),
    Topic(
        "performance", True, "technical", "Incident", ("performance",), (5, 45, 40, 10),
        {
            "en": ("Dashboard extremely slow", "Map view takes minutes to load"),
            "de": ("Dashboard extrem langsam", "Kartenansicht lädt minutenlang"),
        },
        {
            "en": "Since Monday the fleet dashboard takes more than a minute to load for our dispatchers. This "
            "is slowing down our whole operation.",
            "de": "Seit Montag braucht das Flotten-Dashboard bei unseren Disponenten über eine Minute zum Laden. "
            "Das bremst unseren ganzen Betrieb aus.",
        },
        {
            "en": "a HAR file from the browser while the page loads",
            "de": "eine HAR-Datei aus dem Browser, während die Seite lädt",
        },
        {
            "en": "a missing database index on your tenant caused the slow queries. It was added last night; "
            "the dashboard loads in under two seconds again.",
            "de": "ein fehlender Datenbankindex auf Ihrem Mandanten hat die langsamen Abfragen verursacht. Er "
            "wurde heute Nacht angelegt; das Dashboard lädt wieder in unter zwei Sekunden.",
        },
    ),
    Topic(
        "renewal", True, "key_accounts", "Question", ("renewal", "contract"), (40, 55, 5, 0),
        {
            "en": ("Contract renewal {year}", "Quote for renewal and extra modules"),
            "de": ("Vertragsverlängerung {year}", "Angebot für Verlängerung und Zusatzmodule"),
        },
        {
            "en": "Our support contract ends in two months. Please send us a quote for the renewal, including "
            "the route-planning module.",
            "de": "Unser Supportvertrag läuft in zwei Monaten aus. Bitte schicken Sie uns ein Angebot für die "
            "Verlängerung inklusive Tourenplanungsmodul.",
        },
        {"en": "the number of users you plan for next year", "de": "die geplante Nutzerzahl für das nächste Jahr"},
        {
            "en": "the renewal quote is attached. Your account manager will call you this week to go through it.",
            "de": "anbei das Angebot für die Verlängerung. Ihr Account Manager ruft Sie diese Woche an, um es "
            "durchzugehen.",
        },
    ),
)  # fmt: skip
B2C_TOPICS = tuple(t for t in TOPICS if not t.b2b)
B2B_TOPICS = tuple(t for t in TOPICS if t.b2b)
PRODUCTS = ("Lumina Thermostat T3", "Lumina Cam 2", "Lumina Hub", "Lumina Smart Plug", "Lumina Doorbell")

TEXT = {
    "hello": {
        "en": ("Hello,", "Hi,", "Dear support team,"),
        "de": ("Hallo,", "Guten Tag,", "Sehr geehrte Damen und Herren,"),
    },
    "bye": {
        "en": ("Best regards,", "Thanks,", "Kind regards,"),
        "de": ("Viele Grüße", "Danke und Gruß", "Mit freundlichen Grüßen"),
    },
    "greet": {"en": "Hello {first_name},", "de": "Hallo {first_name},"},
    "sign": {"en": "Best regards,\n{agent}\n{team}, Lumina", "de": "Viele Grüße\n{agent}\n{team}, Lumina"},
    "ack": {
        "en": "thank you for your message. We are looking into it and will get back to you as soon as possible.",
        "de": "vielen Dank für Ihre Nachricht. Wir sehen uns das an und melden uns schnellstmöglich bei Ihnen.",
    },
    "ask": {
        "en": "thanks for getting in touch. To help you further, could you please send us {detail}?",
        "de": "vielen Dank für Ihre Anfrage. Damit wir weiterhelfen können, schicken Sie uns bitte {detail}.",
    },
    "info": {
        "en": ("Here is the information you asked for. Let me know if you need anything else.",
               "Sure, see the details below. I hope this helps."),
        "de": ("anbei die gewünschten Informationen. Melden Sie sich gern, falls noch etwas fehlt.",
               "hier die Angaben, um die Sie gebeten hatten. Ich hoffe, das hilft weiter."),
    },
    "nudge": {
        "en": ("Any update on this? It's getting urgent for us.", "Just following up - has anyone looked at this yet?"),
        "de": ("Gibt es hierzu schon Neuigkeiten? Das wird langsam dringend.", "Ich wollte kurz nachhaken - hat sich "
               "das schon jemand angesehen?"),
    },
    "hold": {
        "en": "we have passed your case to our specialists and the manufacturer. As soon as we hear back we will "
        "update you; this may take a few days.",
        "de": "wir haben Ihren Fall an unsere Fachabteilung und den Hersteller weitergegeben. Sobald wir "
        "Rückmeldung haben, melden wir uns; das kann einige Tage dauern.",
    },
    "thanks": {
        "en": ("Thank you, that solved it!", "Great, it works again. Thanks for the quick help."),
        "de": ("Vielen Dank, das hat geholfen!", "Super, funktioniert wieder. Danke für die schnelle Hilfe."),
    },
    "note": {
        "en": ("Checked the account: no known incident on our side. Waiting for details.",
               "Same issue came up last month, see the knowledge base article.",
               "Asked engineering in #support-escalations, they are looking into it.",
               "{org_note}"),
        "de": ("Konto geprüft: keine bekannte Störung auf unserer Seite. Warte auf Details.",
               "Gleicher Fall letzten Monat, siehe Wissensdatenbank-Artikel.",
               "Entwicklung in #support-escalations angefragt, sie schauen es sich an.",
               "{org_note}"),
    },
    "hold_note": {
        "en": "On hold: waiting for the manufacturer / engineering. Follow up on Friday.",
        "de": "On hold: warten auf Hersteller/Entwicklung. Am Freitag nachhaken.",
    },
    "call": {
        "en": "Call with {name}{phone}, {minutes} min. {summary}",
        "de": "Telefonat mit {name}{phone}, {minutes} Min. {summary}",
    },
    "caller_reports": {"en": 'Caller reports: "{body}"', "de": "Anliegen: „{body}“"},
    "call_summary": {
        "en": ("Walked through the problem together; next steps agreed by email.",
               "Customer confirmed the details; we will follow up in writing."),
        "de": ("Problem gemeinsam durchgegangen; weiteres Vorgehen per E-Mail vereinbart.",
               "Kunde hat die Details bestätigt; wir melden uns schriftlich."),
    },
}  # fmt: skip


# --- Result of the setup: what tickets are generated from ----------------------------------------


@dataclass(frozen=True)
class Person:
    contact: Contact
    email: str
    first_name: str
    language: str
    phone: str = ""


@dataclass(frozen=True)
class Account:
    organization: Organization
    people: tuple[Person, ...]
    language: str
    weight: int


@dataclass
class Desk:
    teams: dict[str, Team]
    members: dict[str, list[AbstractUser]]
    languages: dict[int, str]  # agent user id -> language
    types: dict[str, TicketType]
    accounts: list[Account]
    customers: list[Person]
    logins: list[Login] = field(default_factory=list)


# --- Entry point ------------------------------------------------------------------------------


def seed_demo(options: SeedOptions, progress: Progress | None = None) -> SeedResult:
    """Build the demo desk and its tickets. Raises :class:`SeedRefused` if tickets exist and not appending."""
    started = time.monotonic()
    if options.tickets and not (options.customers or options.organizations):
        raise SeedRefused("Nobody could open the tickets: ask for at least one customer or organization.")
    existing = Ticket.objects.count()
    if existing and not options.append:
        raise SeedRefused(f"The database already holds {existing:,} tickets; use --append to add more demo tickets.")
    before = totals()
    with transaction.atomic():
        desk = build_desk(options)
    create_tickets(desk, options, offset=existing, progress=progress)
    ensure_demo_surveys(options)  # --- CSAT (section at the end) ---
    after = totals()
    created = {name: after[name] - before[name] for name in after}
    return SeedResult(logins=desk.logins, created=created, totals=after, seconds=time.monotonic() - started)


def totals() -> dict[str, int]:
    return {
        "teams": Team.objects.count(),
        "agents": AgentProfile.objects.count(),
        "organizations": Organization.objects.count(),
        "B2B contacts": Contact.objects.filter(organization__isnull=False).count(),
        "B2C customers": Contact.objects.filter(organization__isnull=True).count(),
        "contracts": Contract.objects.count(),
        "tickets": Ticket.objects.count(),
        "messages": Message.objects.count(),
        "ticket events": TicketEvent.objects.count(),
        "tags": Tag.objects.count(),
        "macros": Macro.objects.count(),
    }


def build_desk(options: SeedOptions) -> Desk:
    """Configuration, agents, organizations and customers; reuses what a previous run created."""
    password_hash = make_password(DEMO_PASSWORD)  # one slow hash, shared by every demo login
    teams = ensure_teams()
    agents = ensure_agents(teams, password_hash)
    set_team_leads(teams, agents)
    policies = ensure_sla_policies()
    types = ensure_ticket_types()
    ensure_tags()
    ensure_macros(teams)
    ensure_saved_views(teams)
    ensure_knowledge_base(agents)  # --- Knowledge base (section at the end) ---
    accounts = ensure_organizations(
        organization_seeds(options.organizations, _rng(options.seed, "organizations")),
        agents,
        teams,
        policies,
        _rng(options.seed, "contacts"),
    )
    customers = ensure_customers(options.customers, _rng(options.seed, "customers"))
    desk = Desk(
        teams=teams,
        members=team_members(teams),
        languages={agents[s.username].pk: s.language for s in AGENTS},
        types=types,
        accounts=accounts,
        customers=customers,
    )
    desk.logins = [
        Login(note, username, DEMO_PASSWORD, agents[username].get_full_name()) for username, note in AGENT_LOGINS
    ]
    desk.logins += portal_logins(accounts, customers, password_hash)
    return desk


# --- Configuration ------------------------------------------------------------------------------


def ensure_teams() -> dict[str, Team]:
    teams = {}
    for seed in TEAMS:
        team, _ = Team.objects.get_or_create(
            name=seed.name,
            defaults={"email": seed.email, "description": seed.description, "is_escalation_team": seed.escalation},
        )
        teams[seed.key] = team
    return teams


def ensure_agents(teams: dict[str, Team], password_hash: str) -> dict[str, AbstractUser]:
    user_model = get_user_model()
    skills = {name: Skill.objects.get_or_create(name=name)[0] for seed in AGENTS for name in seed.skills}
    agents = {}
    for seed in AGENTS:
        user = user_model.objects.filter(username=seed.username).first()
        if user is None:
            user = _create_agent(seed, teams, password_hash)
            user.agent_profile.skills.set([skills[name] for name in seed.skills])
        elif not AgentProfile.objects.filter(user=user).exists():
            raise SeedRefused(f"The user {seed.username!r} exists but is not an agent; rename it or use another DB.")
        agents[seed.username] = user
    return agents


def _create_agent(seed: AgentSeed, teams: dict[str, Team], password_hash: str) -> AbstractUser:
    user = account_services.agent_create(
        username=seed.username,
        email=f"{_ascii(seed.first_name)}.{_ascii(seed.last_name)}@{VENDOR_DOMAIN}",
        first_name=seed.first_name,
        last_name=seed.last_name,
        role=seed.role,
        teams=[teams[key] for key in seed.teams],
        time_zone=seed.time_zone,
        language=seed.language,
    )
    # Demo logins skip the password validators on purpose: set the (shared) hash directly.
    user.password = password_hash
    user.is_superuser = seed.superuser
    user.save(update_fields=["password", "is_superuser"])
    profile = user.agent_profile
    profile.signature = f"{seed.first_name} {seed.last_name}\n{teams[seed.teams[0]].name}, Lumina"
    profile.save(update_fields=["signature"])
    return user


def set_team_leads(teams: dict[str, Team], agents: dict[str, AbstractUser]) -> None:
    for seed in AGENTS:
        if seed.role != AgentRole.TEAM_LEAD:
            continue
        for key in seed.teams:
            team = teams[key]
            if team.lead_id is None:
                team.lead = agents[seed.username]
                team.save(update_fields=["lead", "updated_at"])


def team_members(teams: dict[str, Team]) -> dict[str, list[AbstractUser]]:
    """Active agents per team key, in a stable order (the service checks assignee-in-team)."""
    through = AgentProfile.teams.through
    rows = (
        through.objects.filter(team__in=teams.values(), agentprofile__is_active=True)
        .select_related("agentprofile__user")
        .order_by("team_id", "agentprofile__user__username")
    )
    by_team: dict[int, list[AbstractUser]] = {}
    for row in rows:
        by_team.setdefault(row.team_id, []).append(row.agentprofile.user)
    return {key: by_team.get(team.pk, []) for key, team in teams.items()}


def ensure_sla_policies() -> dict[str, SLAPolicy]:
    policies = {}
    has_default = SLAPolicy.objects.filter(is_default=True).exists()
    for name, (description, is_default, targets) in SLA_POLICIES.items():
        policy, created = SLAPolicy.objects.get_or_create(
            name=name, defaults={"description": description, "is_default": is_default and not has_default}
        )
        if created:
            SLATarget.objects.bulk_create(
                SLATarget(
                    policy=policy,
                    priority=priority,
                    first_response_minutes=first,
                    next_response_minutes=following,
                    resolution_minutes=resolution,
                )
                for priority, (first, following, resolution) in targets.items()
            )
        policies[name] = policy
    return policies


def ensure_ticket_types() -> dict[str, TicketType]:
    return {
        name: TicketType.objects.get_or_create(name=name, defaults={"description": description})[0]
        for name, description in TICKET_TYPES
    }


def ensure_tags() -> None:
    Tag.objects.bulk_create([Tag(name=name) for name in TAGS], ignore_conflicts=True)


@dataclass(frozen=True)
class MacroSeed:
    name: str
    description: str
    reply_text: str = ""
    set_status: str = ""
    set_priority: str = ""
    set_team: str = ""
    add_tags: tuple[str, ...] = ()
    team: str = ""  # visible to this team only


MACROS: tuple[MacroSeed, ...] = (
    MacroSeed(
        "Password reset",
        "Confirm a password reset and solve the ticket.",
        "Hello {{ customer.first_name }},\n\nI have reset the password of your account and sent a new link to "
        "{{ customer.email }}. The link is valid for 24 hours.\n\nBest regards,\n{{ agent.name }}\n{{ desk.name }}",
        set_status=Status.SOLVED,
        add_tags=("password-reset",),
    ),
    MacroSeed(
        "Passwort zurückgesetzt",
        "Passwort-Reset bestätigen und Ticket lösen (Deutsch).",
        "Hallo {{ customer.first_name }},\n\nich habe das Passwort Ihres Kontos zurückgesetzt und einen neuen Link "
        "an {{ customer.email }} geschickt. Der Link ist 24 Stunden gültig.\n\nViele Grüße\n{{ agent.name }}\n"
        "{{ desk.name }}",
        set_status=Status.SOLVED,
        add_tags=("password-reset",),
    ),
    MacroSeed(
        "Ask for order number",
        "Ask the customer for the order number and wait.",
        'Hello {{ customer.first_name }},\n\nthanks for your message about "{{ ticket.subject }}". Could you '
        "send us your order number? You find it in the order confirmation email.\n\nBest regards,\n"
        "{{ agent.first_name }}",
        set_status=Status.PENDING,
    ),
    MacroSeed(
        "Escalate to 2nd level",
        "Route to the escalation team with high priority.",
        set_priority=Priority.HIGH,
        set_team="escalations",
        add_tags=("escalated",),
    ),
    MacroSeed(
        "Invoice copy sent",
        "Send a copy of the invoice and solve (Billing).",
        "Hello {{ customer.first_name }},\n\nplease find a copy of the requested invoice attached to this "
        "message.\n\nKind regards,\n{{ agent.name }}, Billing",
        set_status=Status.SOLVED,
        add_tags=("invoice",),
        team="billing",
    ),
)


def ensure_macros(teams: dict[str, Team]) -> None:
    for seed in MACROS:
        if Macro.objects.filter(name=seed.name).exists():
            continue
        macro = Macro(
            name=seed.name,
            description=seed.description,
            reply_text=seed.reply_text,
            set_status=seed.set_status,
            set_priority=seed.set_priority,
            set_team=teams[seed.set_team] if seed.set_team else None,
            visibility=ViewVisibility.TEAM if seed.team else ViewVisibility.SHARED,
            team=teams[seed.team] if seed.team else None,
        )
        macro.full_clean()
        macro.save()
        macro.add_tags.set(Tag.objects.filter(name__in=seed.add_tags))


def ensure_saved_views(teams: dict[str, Team]) -> None:
    active = ["new", "open", "pending", "on_hold"]
    views = (
        ("Urgent and high, not solved", {"priority": ["urgent", "high"], "status": active}, "sla_due_at", None),
        ("Unassigned new tickets", {"assignee": "none", "status": ["new"]}, "created_at", None),
        ("Key Accounts queue", {"team": [teams["key_accounts"].pk], "status": active}, "-updated_at", "key_accounts"),
    )
    for position, (name, filters, sort, team_key) in enumerate(views):
        if SavedView.objects.filter(name=name).exists():
            continue
        view = SavedView(
            name=name,
            filters=filters,
            sort=sort,
            visibility=ViewVisibility.TEAM if team_key else ViewVisibility.SHARED,
            team=teams[team_key] if team_key else None,
            position=position,
        )
        view.full_clean()
        view.save()


# --- Organizations and their contacts -------------------------------------------------------------


def ensure_organizations(
    seeds: Sequence[OrgSeed],
    agents: dict[str, AbstractUser],
    teams: dict[str, Team],
    policies: dict[str, SLAPolicy],
    rng: random.Random,
) -> list[Account]:
    accounts: list[Account] = []
    orgs: list[Organization] = []
    for seed in seeds:
        plans = _plan_contacts(seed, rng)  # always planned, so the RNG stream does not depend on what exists
        org = Organization.objects.filter(name=seed.name).first()
        if org is None:
            org = _create_organization(seed, orgs, agents, teams, policies)
            _create_contracts(org, seed, policies)
            people = _create_contacts(org, seed, plans)
        else:
            people = _load_people(org)
        orgs.append(org)
        weight = {Tier.STRATEGIC: 6, Tier.ENTERPRISE: 3, Tier.STANDARD: 1}[seed.tier]
        accounts.append(Account(organization=org, people=tuple(people), language=seed.language, weight=weight))
    return accounts


def _create_organization(
    seed: OrgSeed,
    earlier: list[Organization],
    agents: dict[str, AbstractUser],
    teams: dict[str, Team],
    policies: dict[str, SLAPolicy],
) -> Organization:
    parent = earlier[seed.parent] if seed.parent is not None and seed.parent < len(earlier) else None
    return account_services.organization_create(
        name=seed.name,
        domains=[seed.domain],
        tier=seed.tier,
        annual_contract_value=Decimal(seed.acv),
        account_manager=agents[seed.manager],
        parent=parent,
        address=seed.address,
        phone=seed.phone,
        website=f"https://www.{seed.domain}/",
        industry=seed.industry,
        notes=seed.notes,
        sla_policy=policies[TIER_POLICY[seed.tier]],
        default_team=teams["key_accounts" if seed.tier != Tier.STANDARD else "technical"],
    )


def _create_contracts(org: Organization, seed: OrgSeed, policies: dict[str, SLAPolicy]) -> None:
    today = timezone.localdate()
    this_year = date(today.year, 1, 1)
    previous = Contract(
        organization=org,
        name=f"Support agreement {today.year - 1}",
        product="Lumina Connect",
        starts_on=date(today.year - 1, 1, 1),
        ends_on=date(today.year - 1, 12, 31),
        support_hours="Mon-Fri 08:00-18:00 CET",
        sla_policy=policies["Standard (B2C)"],
    )
    if seed.tier == Tier.STRATEGIC:
        current = Contract(
            organization=org,
            name=f"Premium Support 24x7 {today.year}-{today.year + 2}",
            product="Lumina Connect Enterprise + SAP connector",
            starts_on=this_year,
            ends_on=date(today.year + 2, 12, 31),
            support_hours="24x7 for urgent incidents, otherwise Mon-Fri 07:00-20:00 CET",
            sla_policy=policies["Strategic 24x7"],
            notes="Named technical account manager; quarterly service review.",
        )
        entitlements = [
            ("24x7 hotline", EntitlementUnit.INCLUDED, None, EntitlementPeriod.CONTRACT),
            ("Remote support", EntitlementUnit.HOURS, 40, EntitlementPeriod.MONTH),
            ("On-site visits", EntitlementUnit.INCIDENTS, 6, EntitlementPeriod.YEAR),
            ("Named support contacts", EntitlementUnit.SEATS, 15, EntitlementPeriod.CONTRACT),
        ]
    elif seed.tier == Tier.ENTERPRISE:
        current = Contract(
            organization=org,
            name=f"Enterprise Support {today.year}",
            product="Lumina Connect Enterprise",
            starts_on=this_year,
            ends_on=date(today.year, 12, 31),
            support_hours="Mon-Fri 07:00-20:00 CET",
            sla_policy=policies["Enterprise"],
        )
        entitlements = [
            ("Remote support", EntitlementUnit.HOURS, 20, EntitlementPeriod.MONTH),
            ("On-site visits", EntitlementUnit.INCIDENTS, 2, EntitlementPeriod.YEAR),
            ("Admin training", EntitlementUnit.HOURS, 8, EntitlementPeriod.YEAR),
            ("Named support contacts", EntitlementUnit.SEATS, 10, EntitlementPeriod.CONTRACT),
        ]
    else:
        current = Contract(
            organization=org,
            name="Standard Support (open-ended)",
            product="Lumina Connect Business",
            starts_on=date(today.year - 1, 1, 1) if seed.acv > 20_000 else this_year,
            ends_on=None,
            support_hours="Mon-Fri 08:00-18:00 CET",
            sla_policy=policies["Standard (B2C)"],
        )
        entitlements = [
            ("Support incidents", EntitlementUnit.INCIDENTS, 25, EntitlementPeriod.YEAR),
            ("Named support contacts", EntitlementUnit.SEATS, 5, EntitlementPeriod.CONTRACT),
        ]
    contracts = [previous, current] if seed.tier != Tier.STANDARD else [current]
    for contract in contracts:
        contract.full_clean()
        contract.save()
    for name, unit, quantity, period in entitlements:
        entitlement = Entitlement(
            contract=current,
            name=name,
            unit=unit,
            quantity=Decimal(quantity) if quantity is not None else None,
            period=period,
        )
        entitlement.full_clean()
        entitlement.save()


@dataclass(frozen=True)
class _PlannedContact:
    name: str
    first_name: str
    email: str
    role: str
    phone: str
    primary: bool
    sees_org: bool


def _create_contacts(org: Organization, seed: OrgSeed, plans: list[_PlannedContact]) -> list[Person]:
    people = []
    for plan in plans:
        contact = account_services.contact_create(
            email=plan.email,
            name=plan.name,
            organization=org,
            role=plan.role,
            phone=plan.phone,
            is_primary=plan.primary,
            can_see_organization_tickets=plan.sees_org,
            language=seed.language,
            time_zone="Europe/London" if seed.language == "en" else "Europe/Berlin",
        )
        contact.organization = org  # already loaded: no query when tickets read it
        people.append(Person(contact, plan.email, plan.first_name, seed.language, plan.phone))
    return people


def _plan_contacts(seed: OrgSeed, rng: random.Random) -> list[_PlannedContact]:
    lang = seed.language
    count = rng.randint(3, 8)
    roles = ["Head of IT", *rng.sample(B2B_ROLES[1:], k=len(B2B_ROLES) - 1)]
    plans, used = [], set()
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES[lang]), rng.choice(LAST_NAMES[lang])
        local = f"{_ascii(first)}.{_ascii(last)}"
        while local in used:
            local = f"{_ascii(first)[0]}.{_ascii(last)}{rng.randint(2, 9)}"
        used.add(local)
        role = "IT lead" if index == 0 else roles[index % len(roles)]
        plans.append(
            _PlannedContact(
                name=f"{first} {last}",
                first_name=first,
                email=f"{local}@{seed.domain}",
                role=role,
                phone=_phone(rng, lang),
                primary=index == 0,
                sees_org=index == 0 or role in ("Head of IT", "Operations Manager") or rng.random() < 0.2,
            )
        )
    return plans


def _load_people(org: Organization) -> list[Person]:
    people = []
    contacts = Contact.objects.filter(organization=org).prefetch_related("emails").order_by("pk")
    for contact in contacts:
        emails = sorted(contact.emails.all(), key=lambda e: not e.is_primary)
        if not emails:
            continue
        contact.organization = org
        first_name = contact.name.split(" ")[0] if contact.name else ""
        people.append(Person(contact, emails[0].email, first_name, contact.language, contact.phone))
    return people


# --- Consumers (B2C) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlannedCustomer:
    first_name: str
    name: str
    emails: tuple[str, ...]
    language: str
    phone: str


def plan_customers(count: int, rng: random.Random) -> Iterator[_PlannedCustomer]:
    """Deterministic consumers with unique, lower-case addresses on reserved domains."""
    used: set[str] = set()
    for _ in range(count):
        lang = "de" if rng.random() < 0.65 else "en"
        first, last = rng.choice(FIRST_NAMES[lang]), rng.choice(LAST_NAMES[lang])
        emails = [_unique_email(rng, first, last, used)]
        if rng.random() < 0.25:
            emails.append(_unique_email(rng, first, last, used))
        phone = _phone(rng, lang) if rng.random() < 0.4 else ""
        yield _PlannedCustomer(first, f"{first} {last}", tuple(emails), lang, phone)


def _unique_email(rng: random.Random, first: str, last: str, used: set[str]) -> str:
    f, la = _ascii(first), _ascii(last)
    styles = (f"{f}.{la}", f"{f}{la}", f"{f[0]}.{la}", f"{f}.{la}{rng.randint(60, 99)}", f"{la}.{f}")
    local = rng.choice(styles)
    domain = rng.choice(CONSUMER_DOMAINS)
    address = f"{local}@{domain}"
    while address in used:
        address = f"{local}{rng.randint(1, 9999)}@{domain}"
    used.add(address)
    return address


def ensure_customers(count: int, rng: random.Random, chunk: int = 2_000) -> list[Person]:
    """Bulk-insert the planned consumers that do not exist yet; return all of them as stored."""
    people: list[Person] = []
    plans = list(plan_customers(count, rng))
    for start in range(0, len(plans), chunk):
        batch = plans[start : start + chunk]
        existing = _existing_emails([e for p in batch for e in p.emails])
        _insert_customers([p for p in batch if p.emails[0] not in existing], existing)
        people.extend(_customer_people(batch))
    return people


def _existing_emails(emails: list[str]) -> dict[str, Contact]:
    rows = ContactEmail.objects.filter(email__in=emails).select_related("contact")
    return {row.email: row.contact for row in rows}


def _insert_customers(plans: list[_PlannedCustomer], taken: dict[str, Contact]) -> list[Contact]:
    contacts = [
        Contact(
            name=p.name, language=p.language, phone=p.phone, time_zone="Europe/Berlin" if p.language == "de" else ""
        )
        for p in plans
    ]
    Contact.objects.bulk_create(contacts)
    emails = [
        ContactEmail(contact=contact, email=address, is_primary=index == 0)
        for contact, plan in zip(contacts, plans, strict=True)
        for index, address in enumerate(plan.emails)
        if address not in taken
    ]
    ContactEmail.objects.bulk_create(emails)
    return contacts


def _customer_people(plans: list[_PlannedCustomer]) -> list[Person]:
    """The consumers of ``plans`` as stored (a planned address owned by a B2B contact is skipped)."""
    owners = _existing_emails([p.emails[0] for p in plans])
    people = []
    for plan in plans:
        contact = owners.get(plan.emails[0])
        if contact is None or contact.organization_id is not None:
            continue
        people.append(Person(contact, plan.emails[0], plan.first_name, contact.language, contact.phone))
    return people


# --- Portal logins ------------------------------------------------------------------------------


def portal_logins(accounts: list[Account], customers: list[Person], password_hash: str) -> list[Login]:
    logins = []
    if customers:
        person = customers[0]
        user = _portal_user(person, password_hash)
        logins.append(Login("B2C customer (portal)", user.get_username(), DEMO_PASSWORD, person.contact.name))
    b2b = next((p for a in accounts for p in a.people if p.contact.can_see_organization_tickets), None)
    if b2b is not None:
        user = _portal_user(b2b, password_hash)
        org = b2b.contact.organization
        note = f"{b2b.contact.name}, {b2b.contact.role} at {org}; sees all of the organization's tickets"
        logins.append(Login("B2B contact (portal)", user.get_username(), DEMO_PASSWORD, note))
    return logins


def _portal_user(person: Person, password_hash: str) -> AbstractUser:
    contact = person.contact
    if contact.user_id is not None:
        return contact.user
    first, _, last = contact.name.partition(" ")
    user = get_user_model()(username=person.email, email=person.email, first_name=first, last_name=last)
    user.password = password_hash
    user.save()
    contact.user = user
    contact.save(update_fields=["user", "updated_at"])
    # The demo logins own their addresses, as if they had confirmed them (password reset mails them).
    ContactEmail.objects.filter(contact=contact, verified_at__isnull=True).update(verified_at=timezone.now())
    return user


# --- Tickets --------------------------------------------------------------------------------------


def create_tickets(desk: Desk, options: SeedOptions, *, offset: int, progress: Progress | None = None) -> int:
    """Create ``options.tickets`` tickets in batches, each batch one ``tickets_create_bulk`` call."""
    if options.tickets <= 0:
        return 0
    rng = _rng(options.seed, f"tickets:{offset}")
    now = timezone.now()
    builder = TicketBuilder(desk, rng, now, key=f"{options.seed}-{offset}")
    started = time.monotonic()
    done = 0
    while done < options.tickets:
        size = min(options.batch_size, options.tickets - done)
        # History, not news: the audit events are stored as published, so nothing is notified or mailed.
        tickets_create_bulk([builder.build(done + i) for i in range(size)], publish=False)
        done += size
        reset_queries()  # DEBUG keeps every query otherwise: memory must stay flat at a million tickets
        if progress is not None:
            progress(done, options.tickets, time.monotonic() - started)
    return done


def _weighted(rng: random.Random, options: Sequence, weights: Sequence[float]):  # noqa: ANN202 - one of options
    return rng.choices(options, weights=weights)[0]


# Status mix by age of the ticket: recent ones are mostly open, old ones mostly closed.
_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED)
_STATUS_WEIGHTS_BY_AGE = ((2, (30, 35, 15, 5, 15, 0)), (14, (5, 25, 20, 8, 30, 12)), (10**6, (1, 5, 5, 3, 14, 72)))
_PRIORITIES = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)
_CHANNELS_B2C = ((Channel.EMAIL, Channel.WEB, Channel.PHONE, Channel.PORTAL, Channel.API), (45, 32, 12, 9, 2))
_CHANNELS_B2B = ((Channel.EMAIL, Channel.PORTAL, Channel.PHONE, Channel.API, Channel.WEB), (48, 22, 15, 10, 5))
# Conversation plans per status. Customer: c = the request, i = provides the info asked for, t = thanks,
# u = nudges. Agent replies: ack, ask (for details), hold, sol (the solution). Notes: n, hn (on hold).
_PLANS: dict[str, tuple[tuple[str, ...], ...]] = {
    Status.NEW: (("c",), ("c",), ("c", "u")),
    Status.OPEN: (("c", "ack"), ("c", "ask", "i"), ("c", "n"), ("c", "ack", "n"), ("c", "n", "ask", "i")),
    Status.PENDING: (("c", "ask"), ("c", "n", "ask"), ("c", "ack", "i", "ask")),
    Status.ON_HOLD: (("c", "hold", "hn"), ("c", "ask", "i", "hold", "hn")),
    Status.SOLVED: (("c", "sol"), ("c", "ask", "i", "sol"), ("c", "n", "sol"), ("c", "ack", "sol")),
    Status.CLOSED: (("c", "sol"), ("c", "sol", "t"), ("c", "ask", "i", "sol", "t"), ("c", "n", "sol", "t")),
}
_AGENT_STEPS = {"ack", "ask", "hold", "sol"}


@dataclass
class _Draft:
    """One ticket being generated: who, what, when; turned into a :class:`NewTicket` at the end."""

    index: int
    topic: Topic
    person: Person
    account: Account | None
    cc: list[Person]
    language: str
    created_at: datetime
    status: str
    priority: str
    channel: str
    team_key: str
    assignee: AbstractUser | None
    fields: dict[str, str]


class TicketBuilder:
    """Generates one realistic :class:`NewTicket` at a time from a :class:`Desk` and a seeded RNG."""

    def __init__(self, desk: Desk, rng: random.Random, now: datetime, key: str) -> None:
        self.desk = desk
        self.rng = rng
        self.now = now
        # Random choices are made relative to the end of today (UTC), never to the clock time, so a seed
        # gives the same tickets whenever it runs; only the absolute dates move with the calendar.
        self.day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        self.key = key
        self.accounts = [a for a in desk.accounts if a.people]  # an organization nobody works for opens nothing
        self.account_weights = [a.weight for a in self.accounts]

    def build(self, index: int) -> NewTicket:
        draft = self._draft(index)
        messages = self._messages(draft)
        tags = self._tags(draft)
        return NewTicket(
            subject=self.rng.choice(draft.topic.subjects[draft.language]).format(**draft.fields),
            requester=draft.person.contact,
            channel=draft.channel,
            messages=messages,
            priority=draft.priority,
            status=draft.status,
            type=self.desk.types[draft.topic.type],
            team=self.desk.teams[draft.team_key],
            assignee=draft.assignee,
            organization=draft.account.organization if draft.account else None,
            tags=tags,
            cc=[p.contact for p in draft.cc],
        )

    # -- who and what

    def _draft(self, index: int) -> _Draft:
        rng = self.rng
        b2b = bool(self.accounts) and (not self.desk.customers or rng.random() < B2B_SHARE)
        account = _weighted(rng, self.accounts, self.account_weights) if b2b else None
        if account is not None:
            person = account.people[0] if rng.random() < 0.35 else rng.choice(account.people)
            others = [p for p in account.people if p is not person]
            cc = rng.sample(others, k=min(len(others), rng.choice((1, 1, 2)))) if others and rng.random() < 0.25 else []
        else:
            account, person, cc = None, rng.choice(self.desk.customers), []
        topic = rng.choice(B2B_TOPICS if account else B2C_TOPICS)
        created_at, age_days = self._created_at()
        status = self._status(age_days)
        priority = self._priority(topic, account)
        channels, weights = _CHANNELS_B2B if account else _CHANNELS_B2C
        channel = _weighted(rng, channels, weights)
        if channel == Channel.PHONE and status == Status.NEW:
            status = Status.OPEN  # somebody took the call: it is being worked on
        team_key = self._team(topic, account, priority)
        assignee = self._assignee(team_key, status, channel)
        return _Draft(
            index, topic, person, account, cc, person.language, created_at, status, priority, channel, team_key,
            assignee, self._fields(person, account),
        )  # fmt: skip

    def _fields(self, person: Person, account: Account | None) -> dict[str, str]:
        rng = self.rng
        year = self.now.year
        prefix = "RE" if person.language == "de" else "INV"
        return {
            "first_name": person.first_name,
            "name": person.contact.name,
            "org": account.organization.name if account else "",
            "order": f"LU-{rng.randint(1_000_000, 9_999_999)}",
            "invoice": f"{prefix}-{year}-{rng.randint(10_000, 99_999)}",
            "product": rng.choice(PRODUCTS),
            "year": str(year + 1),
        }

    def _created_at(self) -> tuple[datetime, float]:
        """When the ticket came in, and its age in days as far as the random choices are concerned."""
        rng = self.rng
        # Skewed towards recent days; office hours (06-18 UTC) more likely than the night.
        days_ago = math.floor(HISTORY_DAYS * rng.random() ** 1.3)
        office = rng.random() < 0.8
        minute = rng.randint(6 * 60, 18 * 60 - 1) if office else rng.randint(0, 24 * 60 - 1)
        created = self.day_end - timedelta(days=days_ago + 1, minutes=-minute, seconds=-rng.randint(0, 59))
        age_days = (self.day_end - created).total_seconds() / 86_400
        if created > self.now - timedelta(minutes=15):
            created -= timedelta(days=1)  # later today: yesterday instead (draws nothing, keeps the stream)
        return created, age_days

    def _status(self, age_days: float) -> str:
        weights = next(w for limit, w in _STATUS_WEIGHTS_BY_AGE if age_days < limit)
        return _weighted(self.rng, _STATUSES, weights)

    def _priority(self, topic: Topic, account: Account | None) -> str:
        priority = _weighted(self.rng, _PRIORITIES, topic.priorities)
        if account and account.organization.tier == Tier.STRATEGIC and priority == Priority.LOW:
            priority = Priority.NORMAL
        return priority

    def _team(self, topic: Topic, account: Account | None, priority: str) -> str:
        if account and topic.type == "Incident" and priority == Priority.URGENT and self.rng.random() < 0.6:
            return "escalations"
        if account and account.organization.tier == Tier.STRATEGIC and topic.team != "billing":
            return "key_accounts" if self.rng.random() < 0.5 else topic.team
        return topic.team

    def _assignee(self, team_key: str, status: str, channel: str) -> AbstractUser | None:
        members = self.desk.members.get(team_key) or []
        if not members:
            return None
        unassigned_share = 0.75 if status == Status.NEW else 0.03
        if channel != Channel.PHONE and self.rng.random() < unassigned_share:
            return None
        return self.rng.choice(members)

    def _tags(self, draft: _Draft) -> list[str]:
        tags = [t for t in draft.topic.tags if self.rng.random() < 0.85]
        if draft.account and draft.account.organization.tier == Tier.STRATEGIC:
            tags.append("vip")
        if draft.team_key == "escalations":
            tags.append("escalated")
        return tags

    # -- the conversation

    def _messages(self, draft: _Draft) -> list[NewMessage]:
        plan = list(self.rng.choice(_PLANS[draft.status]))
        if draft.account and draft.channel != Channel.PHONE and len(plan) < 5 and self.rng.random() < 0.15:
            plan.insert(1, "call")  # a B2B contact rang up about the ticket; the agent logged the call
        times = self._times(draft, plan)
        messages: list[NewMessage] = []
        thread: list[str] = []
        for position, (step, at) in enumerate(zip(plan, times, strict=True)):
            if position == 0 and draft.channel == Channel.PHONE:
                step = "intake_call"
            messages.append(self._message(draft, step, at, position, thread))
        return messages

    def _times(self, draft: _Draft, plan: list[str]) -> list[datetime]:
        """Strictly increasing times from the ticket's creation, squeezed to end before now."""
        response = {
            Priority.URGENT: (5, 90),
            Priority.HIGH: (15, 300),
            Priority.NORMAL: (30, 1_440),
            Priority.LOW: (120, 2_880),
        }
        offsets, total = [0.0], 0.0
        for step in plan[1:]:
            low, high = response[draft.priority] if step in _AGENT_STEPS else (10, 2_000)
            total += self.rng.uniform(low, high) if step not in ("n", "hn", "call") else self.rng.uniform(5, 120)
            offsets.append(total)
        room = (self.now - draft.created_at).total_seconds() / 60 - 1
        scale = min(1.0, room / total) if total else 1.0
        return [draft.created_at + timedelta(minutes=o * scale, seconds=i) for i, o in enumerate(offsets)]

    def _agent_for(self, draft: _Draft) -> AbstractUser:
        if draft.assignee is not None:
            return draft.assignee
        members = self.desk.members.get(draft.team_key) or [u for ms in self.desk.members.values() for u in ms]
        return self.rng.choice(members)

    def _message(self, draft: _Draft, step: str, at: datetime, position: int, thread: list[str]) -> NewMessage:
        lang, rng, fields = draft.language, self.rng, draft.fields
        topic = draft.topic
        if step in ("c", "i", "t", "u"):
            author = draft.person
            if step == "i" and draft.cc and rng.random() < 0.3:
                author = rng.choice(draft.cc)  # a copied colleague answers for the requester
            text = {
                "c": topic.body[lang],
                "i": rng.choice(TEXT["info"][lang]),
                "t": rng.choice(TEXT["thanks"][lang]),
                "u": rng.choice(TEXT["nudge"][lang]),
            }[step].format(**fields)
            body = self._customer_text(author, draft, text)
            return self._email(
                draft, NewMessage(body_text=body, author_contact=author.contact, created_at=at), author, thread, at
            )
        agent = self._agent_for(draft)
        if step in ("n", "hn"):
            agent_lang = self.desk.languages.get(agent.pk, lang)
            org_note = self._org_note(draft, agent_lang)
            text = TEXT["hold_note"][agent_lang] if step == "hn" else rng.choice(TEXT["note"][agent_lang])
            return NewMessage(
                body_text=text.format(org_note=org_note), kind=MessageKind.NOTE, author_user=agent, created_at=at
            )
        if step in ("call", "intake_call"):
            return NewMessage(
                body_text=self._call_text(draft, intake=step == "intake_call"),
                kind=MessageKind.PHONE_CALL,
                author_user=agent,
                created_at=at,
            )
        text = {
            "ack": TEXT["ack"][lang],
            "ask": TEXT["ask"][lang].format(detail=topic.detail[lang]),
            "hold": TEXT["hold"][lang],
            "sol": topic.solution[lang],
        }[step].format(**fields)
        body = self._agent_text(agent, draft, text)
        return self._email(draft, NewMessage(body_text=body, author_user=agent, created_at=at), None, thread, at)

    def _customer_text(self, author: Person, draft: _Draft, text: str) -> str:
        lang = draft.language
        sign = author.contact.name + (f"\n{draft.account.organization.name}" if draft.account else "")
        return f"{self.rng.choice(TEXT['hello'][lang])}\n\n{text}\n\n{self.rng.choice(TEXT['bye'][lang])}\n{sign}"

    def _agent_text(self, agent: AbstractUser, draft: _Draft, text: str) -> str:
        lang = draft.language
        greeting = TEXT["greet"][lang].format(first_name=draft.person.first_name)
        sign = TEXT["sign"][lang].format(agent=agent.get_full_name(), team=self.desk.teams[draft.team_key].name)
        return f"{greeting}\n\n{text}\n\n{sign}"

    def _call_text(self, draft: _Draft, *, intake: bool) -> str:
        lang, person = draft.language, draft.person
        if intake:
            summary = TEXT["caller_reports"][lang].format(body=draft.topic.body[lang].format(**draft.fields))
        else:
            summary = self.rng.choice(TEXT["call_summary"][lang])
        phone = f" ({person.phone})" if person.phone else ""
        return TEXT["call"][lang].format(
            name=person.contact.name, phone=phone, minutes=self.rng.randint(3, 25), summary=summary
        )

    def _org_note(self, draft: _Draft, lang: str) -> str:
        if draft.account is None:
            if lang == "en":
                return "Private customer with Lumina Plus: check the order history before replying."
            return "Privatkunde mit Lumina-Plus-Abo: vor der Antwort die Bestellhistorie prüfen."
        org = draft.account.organization
        tier = org.get_tier_display()
        if lang == "en":
            return f"{org.name} is a {tier} account - keep the SLA in mind."
        return f"{org.name} ist {tier}-Kunde - bitte SLA im Blick behalten."

    def _email(
        self, draft: _Draft, message: NewMessage, author: Person | None, thread: list[str], at: datetime
    ) -> NewMessage:
        """Add Message-ID, In-Reply-To and addresses to public messages of email tickets."""
        if draft.channel != Channel.EMAIL:
            return message
        team_address = self.desk.teams[draft.team_key].email or f"support@{VENDOR_DOMAIN}"
        domain = author.email.rsplit("@", 1)[1] if author else VENDOR_DOMAIN
        message_id = f"<{self.key}.{draft.index}.{len(thread)}.{int(at.timestamp())}@{domain}>"
        headers = {
            "message_id": message_id,
            "in_reply_to": thread[-1] if thread else "",
            "references": " ".join(thread[-10:]),
            "from_address": author.email if author else team_address,
            "to_addresses": team_address if author else draft.person.email,
            "cc_addresses": ", ".join(p.email for p in draft.cc),
        }
        thread.append(message_id)
        return replace(message, **headers)


# --- Knowledge base -------------------------------------------------------------------------------
# A small help centre in English and German, written through ``knowledge.services`` by the demo
# admin (who may publish): published articles, one German draft translation, one English-only
# draft and one internal (agents-only) article. Created once, by category slug and English slug.


@dataclass(frozen=True)
class KbCategorySeed:
    slug: str
    name: str
    name_de: str
    description: str
    description_de: str


@dataclass(frozen=True)
class KbArticleSeed:
    category: str
    title: dict[str, str]
    body: dict[str, str]
    published: tuple[str, ...]  # languages published; the others are drafts
    internal: bool = False
    views: int = 0


KB_CATEGORIES: tuple[KbCategorySeed, ...] = (
    KbCategorySeed(
        "getting-started",
        "Getting started",
        "Erste Schritte",
        "Set up your Lumina devices and your account.",
        "Lumina-Geräte und Ihr Konto einrichten.",
    ),
    KbCategorySeed(
        "devices-wifi",
        "Devices and Wi-Fi",
        "Geräte und WLAN",
        "Connection problems, firmware and sensors.",
        "Verbindungsprobleme, Firmware und Sensoren.",
    ),
    KbCategorySeed(
        "billing",
        "Billing and subscriptions",
        "Rechnungen und Abos",
        "Invoices, payments and Lumina Plus.",
        "Rechnungen, Zahlungen und Lumina Plus.",
    ),
    KbCategorySeed(
        "lumina-connect",
        "Lumina Connect for companies",
        "Lumina Connect für Unternehmen",
        "Fleet management, single sign-on and the API.",
        "Flottenverwaltung, Single Sign-on und die API.",
    ),
)

KB_ARTICLES: tuple[KbArticleSeed, ...] = (
    KbArticleSeed(
        "devices-wifi",
        {"en": "Connect your Lumina hub to Wi-Fi", "de": "Lumina Hub mit dem WLAN verbinden"},
        {
            "en": "The hub needs a **2.4 GHz** Wi-Fi network.\n\n"
            "1. Open the Lumina app and tap **Add device**.\n"
            "2. Hold the hub's button for 5 seconds until the light blinks blue.\n"
            "3. Choose your network and enter the Wi-Fi password.\n\n"
            "## The hub does not connect\n\n"
            "- Move the hub closer to the router.\n"
            "- Check that the router broadcasts a 2.4 GHz network (5 GHz only does not work).\n"
            "- Restart the router and try again.\n",
            "de": "Der Hub benötigt ein WLAN mit **2,4 GHz**.\n\n"
            "1. Öffnen Sie die Lumina-App und tippen Sie auf **Gerät hinzufügen**.\n"
            "2. Halten Sie die Taste des Hubs 5 Sekunden gedrückt, bis das Licht blau blinkt.\n"
            "3. Wählen Sie Ihr Netzwerk und geben Sie das WLAN-Passwort ein.\n\n"
            "## Der Hub verbindet sich nicht\n\n"
            "- Stellen Sie den Hub näher an den Router.\n"
            "- Prüfen Sie, ob der Router ein 2,4-GHz-Netz sendet (nur 5 GHz funktioniert nicht).\n"
            "- Starten Sie den Router neu und versuchen Sie es erneut.\n",
        },
        published=("en", "de"),
        views=420,
    ),
    KbArticleSeed(
        "getting-started",
        {"en": "Reset your password", "de": "Passwort zurücksetzen"},
        {
            "en": "Forgot your password? On the login page choose **Forgot password**, enter your email "
            "address and follow the link we send you. The link is valid for three days.\n\n"
            "No email? Check your spam folder, or [contact us](/portal/).\n",
            "de": "Passwort vergessen? Wählen Sie auf der Anmeldeseite **Passwort vergessen**, geben Sie "
            "Ihre E-Mail-Adresse ein und folgen Sie dem Link, den wir Ihnen senden. Der Link ist drei "
            "Tage gültig.\n\nKeine E-Mail erhalten? Sehen Sie im Spam-Ordner nach oder "
            "[schreiben Sie uns](/portal/).\n",
        },
        published=("en", "de"),
        views=310,
    ),
    KbArticleSeed(
        "devices-wifi",
        {"en": "Update the firmware of your devices", "de": "Firmware Ihrer Geräte aktualisieren"},
        {
            "en": "Lumina devices update themselves at night. To update now, open the app, go to "
            "**Settings → Devices**, choose the device and tap **Check for updates**.\n\n"
            "> Keep the device powered during the update; it restarts when it is done.\n",
            "de": "Lumina-Geräte aktualisieren sich nachts selbst. Für ein sofortiges Update öffnen Sie die "
            "App, gehen zu **Einstellungen → Geräte**, wählen das Gerät und tippen auf "
            "**Nach Updates suchen**.\n\n"
            "> Lassen Sie das Gerät während des Updates eingeschaltet; es startet danach neu.\n",
        },
        published=("en", "de"),
        views=150,
    ),
    KbArticleSeed(
        "billing",
        {"en": "Download your invoices", "de": "Rechnungen herunterladen"},
        {
            "en": "All invoices are in your account under **Billing → Invoices** as PDF.\n\n"
            "| Plan | Invoice |\n|---|---|\n| Lumina Plus (monthly) | on the 1st of each month |\n"
            "| Lumina Plus (yearly) | on the day you subscribed |\n",
            "de": "Alle Rechnungen finden Sie in Ihrem Konto unter **Abrechnung → Rechnungen** als PDF.\n\n"
            "| Tarif | Rechnung |\n|---|---|\n| Lumina Plus (monatlich) | am 1. jedes Monats |\n"
            "| Lumina Plus (jährlich) | am Tag des Abschlusses |\n",
        },
        published=("en", "de"),
        views=95,
    ),
    KbArticleSeed(
        "billing",
        {"en": "Cancel or change your Lumina Plus subscription"},
        {
            "en": "You can cancel Lumina Plus at any time under **Billing → Subscription**. The "
            "subscription runs until the end of the paid period; devices keep working without it.\n",
        },
        published=("en",),
        views=60,
    ),
    KbArticleSeed(
        "lumina-connect",
        {"en": "Set up single sign-on (SAML) for Lumina Connect", "de": "Single Sign-on (SAML) für Lumina Connect"},
        {
            "en": "Administrators of a Lumina Connect organization can sign in with their identity provider.\n\n"
            "1. In Lumina Connect open **Organization → Security → Single sign-on**.\n"
            "2. Download our SAML metadata and add Lumina Connect as an application in your identity provider.\n"
            "3. Upload your provider's metadata and test the sign-in before enforcing it.\n",
            "de": "Entwurf: Administratoren einer Lumina-Connect-Organisation können sich über ihren "
            "Identitätsanbieter anmelden.\n\n1. Öffnen Sie **Organisation → Sicherheit → Single Sign-on**.\n",
        },
        published=("en",),  # the German version is still a draft
        views=40,
    ),
    KbArticleSeed(
        "billing",
        {"en": "Refund approval matrix (internal)", "de": "Freigabe von Erstattungen (intern)"},
        {
            "en": "**Agents only.**\n\n| Amount | Who approves |\n|---|---|\n| up to 50 EUR | any agent |\n"
            "| up to 500 EUR | team lead |\n| more | Billing team lead and finance |\n",
            "de": "**Nur für Agents.**\n\n| Betrag | Freigabe durch |\n|---|---|\n| bis 50 EUR | jeder Agent |\n"
            "| bis 500 EUR | Teamleitung |\n| mehr | Teamleitung Billing und Finanzen |\n",
        },
        published=("en", "de"),
        internal=True,
        views=25,
    ),
    KbArticleSeed(
        "devices-wifi",
        {"en": "Pair Lumina sensors with Matter"},
        {"en": "Draft: Matter support arrives with firmware 4.2. Steps to follow.\n"},
        published=(),
    ),
)


def ensure_knowledge_base(agents: dict[str, AbstractUser]) -> None:
    """Categories and articles once; a second run finds them by slug and adds nothing."""
    from knowledge import services as kb
    from knowledge.choices import Visibility
    from knowledge.models import Article, ArticleTranslation, Category

    author = agents["sabine"]  # the demo admin may publish
    categories: dict[str, Category] = {}
    for seed in KB_CATEGORIES:
        existing = Category.objects.filter(slug=seed.slug).first()
        categories[seed.slug] = existing or kb.category_create(
            data=kb.CategoryInput(
                name=seed.name,
                slug=seed.slug,
                name_de=seed.name_de,
                description=seed.description,
                description_de=seed.description_de,
                position=len(categories),
            ),
            by=author,
        )
    for seed in KB_ARTICLES:
        slug = _kb_slug(seed.title["en"])
        if ArticleTranslation.objects.filter(language="en", slug=slug).exists():
            continue
        visibility = Visibility.INTERNAL if seed.internal else Visibility.PUBLIC
        article = None
        for language, title in seed.title.items():
            data = kb.VersionInput(
                language=language,
                title=title,
                body=seed.body[language],
                category=categories[seed.category],
                visibility=visibility,
            )
            if article is None:
                version = kb.article_create(data=data, by=author, publish=language in seed.published)
                article = version.article
            else:
                kb.article_update(article=article, data=data, by=author)
                if language in seed.published:
                    kb.article_publish(article=article, language=language, by=author)
        if article is not None and seed.views:
            Article.objects.filter(pk=article.pk).update(view_count=seed.views)


def _kb_slug(title: str) -> str:
    from django.utils.text import slugify

    return slugify(title)


# --- CSAT -------------------------------------------------------------------------------------------
# Satisfaction surveys for the most recently solved demo tickets (their events are written as already
# published, so the survey subscriber never saw them): most answered, mostly good, a few with a
# comment, so the dashboard, organization pages and sidebars show figures. Deterministic per seed;
# tickets that have a survey already are left alone.

DEMO_SURVEYS = 3_000
_DEMO_COMMENTS = {
    "good": ["Quick and friendly, thank you!", "Solved on the first reply.", "Great help."],
    "bad": ["It took far too long.", "I had to explain everything twice.", "Still not really fixed."],
}


def ensure_demo_surveys(options: SeedOptions) -> int:
    from tickets.models import SatisfactionSurvey

    rng = _rng(options.seed, "csat")
    solved = (
        Ticket.objects.filter(status__in=(Status.SOLVED, Status.CLOSED), solved_at__isnull=False)
        .exclude(surveys__isnull=False)
        .order_by("-solved_at", "-id")
        .values("pk", "requester_id", "assignee_id", "team_id", "organization_id", "solved_at")[:DEMO_SURVEYS]
    )
    surveys = []
    for row in solved:
        answered = rng.random() < 0.7
        rating = ("good" if rng.random() < 0.82 else "bad") if answered else ""
        comment = rng.choice(_DEMO_COMMENTS[rating]) if answered and rng.random() < 0.3 else ""
        surveys.append(
            SatisfactionSurvey(
                ticket_id=row["pk"],
                solve_number=1,
                contact_id=row["requester_id"],
                agent_id=row["assignee_id"],
                team_id=row["team_id"],
                organization_id=row["organization_id"],
                created_at=row["solved_at"],
                sent_at=row["solved_at"],
                rating=rating,
                comment=comment,
                answered_at=row["solved_at"] + timedelta(hours=rng.randint(1, 48)) if answered else None,
            )
        )
    SatisfactionSurvey.objects.bulk_create(surveys, batch_size=1_000, ignore_conflicts=True)
    return len(surveys)
