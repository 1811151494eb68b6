"""The German catalog is complete, compiled, and used for agents who chose German.

The .po is parsed with the standard library only; the committed .mo is loaded with
``gettext.GNUTranslations``. When GNU gettext's ``msgfmt`` is installed, the .po is compiled
again into a temporary file and must give exactly the committed catalog, so a translation
that was edited but not compiled (``manage.py compilemessages``) fails here.
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from tests import factories

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"

# Placeholders that must survive translation unchanged: Python named and positional formats,
# Django template variables kept in help texts, and the JS counter token of the bulk bar.
_PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sd]|%[sd]|%%|\{\{[^}]*\}\}|__count__")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def _unquote(text: str) -> str:
    return ast.literal_eval(text.strip())


def parse_po(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete ``#~`` entries skipped), header included."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    flags: set[str] = set()

    def finish() -> None:
        nonlocal current
        if current is not None:
            entries.append(current)
        current = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            finish()
            flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        if line.startswith("msgctxt"):
            finish()
            continue
        if line.startswith("msgid_plural "):
            assert current is not None, f"{path}:{number}: msgid_plural without msgid"
            current.msgid_plural = _unquote(line[len("msgid_plural ") :])
            target = ("msgid_plural", None)
        elif line.startswith("msgid "):
            finish()
            current = Entry(msgid=_unquote(line[len("msgid ") :]), flags=flags, line=number)
            flags = set()
            target = ("msgid", None)
        elif line.startswith("msgstr["):
            assert current is not None, f"{path}:{number}: msgstr without msgid"
            index, _, rest = line[len("msgstr[") :].partition("]")
            current.msgstr[int(index)] = _unquote(rest)
            target = ("msgstr", int(index))
        elif line.startswith("msgstr "):
            assert current is not None, f"{path}:{number}: msgstr without msgid"
            current.msgstr[0] = _unquote(line[len("msgstr ") :])
            target = ("msgstr", 0)
        elif line.startswith('"'):
            assert current is not None and target is not None, f"{path}:{number}: stray string"
            kind, index = target
            if kind == "msgid":
                current.msgid += _unquote(line)
            elif kind == "msgid_plural":
                current.msgid_plural = (current.msgid_plural or "") + _unquote(line)
            else:
                current.msgstr[index] += _unquote(line)
        else:
            raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    finish()
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[Entry]:
    assert PO_FILE.exists(), f"{PO_FILE} is missing: run makemessages -l de"
    return parse_po(PO_FILE)


@pytest.fixture(scope="module")
def committed_catalog() -> gettext.GNUTranslations:
    assert MO_FILE.exists(), f"{MO_FILE} is missing: run manage.py compilemessages -l de"
    with MO_FILE.open("rb") as handle:
        return gettext.GNUTranslations(handle)


@pytest.fixture(autouse=True)
def _restore_language():
    # The preferences middleware activates the agent's language for the thread; keep it from leaking.
    with translation.override(settings.LANGUAGE_CODE):
        yield


# --- (a) every message is translated ------------------------------------------------------------


def test_german_is_a_configured_language():
    assert ("de", "Deutsch") in settings.LANGUAGES
    assert Path(settings.BASE_DIR) / "locale" in [Path(p) for p in settings.LOCALE_PATHS]


def test_every_msgid_has_a_german_msgstr_and_nothing_is_fuzzy(po_entries):
    header = [e for e in po_entries if e.msgid == ""]
    assert len(header) == 1, "the .po needs exactly one header entry"
    assert "fuzzy" not in header[0].flags, "the header is still marked fuzzy"
    assert "Language: de" in header[0].msgstr[0]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header[0].msgstr[0]

    messages = [e for e in po_entries if e.msgid != ""]
    assert len(messages) > 500, "the catalog looks truncated"
    fuzzy = [e.msgid for e in messages if "fuzzy" in e.flags]
    assert not fuzzy, f"fuzzy entries (check them, then drop the flag): {fuzzy}"
    empty = []
    for entry in messages:
        forms = [0, 1] if entry.msgid_plural is not None else [0]
        if any(not entry.msgstr.get(form, "").strip() for form in forms):
            empty.append(f"line {entry.line}: {entry.msgid!r}")
    assert not empty, f"{len(empty)} untranslated entries:\n" + "\n".join(empty)


def test_translations_keep_every_placeholder(po_entries):
    wrong = []
    for entry in po_entries:
        if entry.msgid == "":
            continue
        if entry.msgid_plural is None:
            if sorted(_PLACEHOLDER.findall(entry.msgstr[0])) != sorted(_PLACEHOLDER.findall(entry.msgid)):
                wrong.append((entry.msgid, entry.msgstr[0]))
            continue
        allowed = set(_PLACEHOLDER.findall(entry.msgid)) | set(_PLACEHOLDER.findall(entry.msgid_plural))
        # The plural form must keep the plural's placeholders; the singular may drop the count ("eine").
        if set(_PLACEHOLDER.findall(entry.msgstr[1])) != set(_PLACEHOLDER.findall(entry.msgid_plural)):
            wrong.append((entry.msgid_plural, entry.msgstr[1]))
        if not set(_PLACEHOLDER.findall(entry.msgstr[0])) <= allowed:
            wrong.append((entry.msgid, entry.msgstr[0]))
    assert not wrong, "placeholders differ:\n" + "\n".join(f"{m!r} -> {s!r}" for m, s in wrong)


@pytest.mark.parametrize(
    ("english", "german"),
    [
        ("All tickets", "Alle Tickets"),
        ("New", "Neu"),
        ("Open", "Offen"),
        ("Pending", "Ausstehend"),
        ("On hold", "Angehalten"),
        ("Solved", "Gelöst"),
        ("Closed", "Geschlossen"),
        ("Low", "Niedrig"),
        ("Normal", "Normal"),
        ("High", "Hoch"),
        ("Urgent", "Dringend"),
        ("Internal note", "Interne Notiz"),
        ("Reply", "Antworten"),
        ("Macro", "Makro"),
        ("Assign", "Zuweisen"),
        ("Requester", "Anfragender"),
        ("Organization", "Organisation"),
        ("Customer", "Kunde"),
    ],
)
def test_key_words_in_the_compiled_catalog(committed_catalog, english, german):
    assert committed_catalog.gettext(english) == german


def test_compiled_plurals_follow_german_rules(committed_catalog):
    assert committed_catalog.ngettext("%(n)s ticket", "%(n)s tickets", 1) == "%(n)s Ticket"
    assert committed_catalog.ngettext("%(n)s ticket", "%(n)s tickets", 3) == "%(n)s Tickets"
    assert committed_catalog.ngettext("%(n)s ticket", "%(n)s tickets", 0) == "%(n)s Tickets"


# --- (c) the committed .mo is the compiled .po --------------------------------------------------


def test_committed_mo_matches_the_po(committed_catalog, tmp_path):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("GNU gettext's msgfmt is not installed; cannot recompile the .po")
    fresh = tmp_path / "django.mo"
    result = subprocess.run(  # noqa: S603 - msgfmt from PATH on our own .po
        [msgfmt, "--check-format", "-o", str(fresh), str(PO_FILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"msgfmt rejected the .po:\n{result.stderr}"
    with fresh.open("rb") as handle:
        recompiled = gettext.GNUTranslations(handle)
    # The header ("" key) carries dates that every makemessages run bumps; only its plural rule matters.
    assert recompiled.plural(2) == committed_catalog.plural(2)
    assert recompiled.plural(1) == committed_catalog.plural(1)
    stale = {
        key for key in set(recompiled._catalog) | set(committed_catalog._catalog)
        if key != "" and recompiled._catalog.get(key) != committed_catalog._catalog.get(key)
    }  # fmt: skip
    assert not stale, (
        f"{MO_FILE.name} is out of date for {len(stale)} messages, e.g. {sorted(map(str, stale))[:5]}: "
        "run `python manage.py compilemessages -l de --ignore=.venv` and commit the .mo"
    )


def test_committed_mo_has_every_po_message(po_entries, committed_catalog):
    missing = []
    for entry in po_entries:
        if entry.msgid == "":
            continue
        key = (entry.msgid, 0) if entry.msgid_plural is not None else entry.msgid
        if key not in committed_catalog._catalog:
            missing.append(entry.msgid)
    assert not missing, f"not in the compiled catalog (recompile): {missing[:10]}"


# --- (b) an agent who chose German gets the workspace in German ---------------------------------


@pytest.mark.django_db
def test_german_agent_gets_the_ticket_list_in_german(client):
    agent = factories.agent(username="greta")
    agent.agent_profile.language = "de"
    agent.agent_profile.save()
    factories.ticket(subject="Drucker streikt", priority="urgent")
    client.force_login(agent)

    response = client.get(reverse("desk:view", args=["all"]))

    assert response.status_code == 200
    assert response["Content-Language"] == "de"
    html = response.content.decode()
    assert '<html lang="de"' in html
    assert "Drucker streikt" in html
    for german in ("Alle Tickets", "Meine offenen Tickets", "Ansichten", "Anfragender", "Priorität", "Neu", "Dringend"):
        assert german in html, f"{german!r} missing from the German page"
    for english in ("All tickets", "My open tickets", "Requester", "Priority", "Urgent", "Log out"):
        assert f">{english}<" not in html, f"English {english!r} left on the German page"


@pytest.mark.django_db
def test_english_agent_still_gets_english(client):
    agent = factories.agent(username="emma")
    client.force_login(agent)

    response = client.get(reverse("desk:view", args=["all"]))

    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    html = response.content.decode()
    assert "All tickets" in html
    assert "Alle Tickets" not in html


@pytest.mark.django_db
def test_sla_events_are_stored_in_english_and_shown_in_the_readers_language(client):
    """A German agent's reply meets the first-response target: the event is stored language-neutral
    (English), so an English reader sees "met" and a German reader "erfüllt"."""
    from tests.integration.sla_support import policy
    from tickets.choices import EventAction, Priority
    from tickets.models import TicketEvent
    from tickets.services import Actor, ticket_reply

    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 240)})
    team = factories.team()
    german = factories.agent(teams=[team], username="greta")
    german.agent_profile.language = "de"
    german.agent_profile.save(update_fields=["language"])
    english = factories.agent(teams=[team], username="eddie")
    ticket = factories.ticket(team=team)
    with translation.override("de"):  # as in a German agent's request
        ticket_reply(ticket=ticket, by=Actor.agent(german), body_text="Wir kümmern uns darum.")
    stored = TicketEvent.objects.get(ticket=ticket, action=EventAction.SLA, field="first_response")
    assert stored.new_value == "met"
    client.force_login(german)
    assert "erfüllt" in client.get(reverse("desk:ticket", args=[ticket.reference])).content.decode()
    client.force_login(english)
    page = client.get(reverse("desk:ticket", args=[ticket.reference])).content.decode()
    assert ": met" in page
    assert "erfüllt" not in page
