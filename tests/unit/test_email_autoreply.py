"""The auto-reply / loop / bounce / bulk guard over parsed mail."""

from pathlib import Path

import pytest

from channels_intake.email.autoreply import Suppression, classify
from channels_intake.email.parsing import ParsedEmail, parse_email

MAIL_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mail"
OURS = {"support@desk.example", "billing@desk.example"}


def parsed(headers: str, body: str = "Hello") -> ParsedEmail:
    lines = headers.strip("\n").split("\n")
    if not any(line.lower().startswith("from:") for line in lines):
        lines.insert(0, "From: Ann <ann@example.com>")
    if not any(line.lower().startswith("subject:") for line in lines):
        lines.append("Subject: My printer is broken")
    return parse_email(("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8"))


def kind(headers: str, body: str = "Hello") -> str | None:
    result = classify(parsed(headers, body), own_addresses=OURS)
    return result.kind if result else None


def test_normal_customer_mail_passes():
    assert classify(parsed("To: support@desk.example"), own_addresses=OURS) is None


@pytest.mark.parametrize(
    "headers",
    [
        "List-Unsubscribe: <mailto:unsubscribe@example.com>",
        "List-Id: <customers.example.com>",
        "Auto-Submitted: no",
        "X-Auto-Response-Suppress: All",  # Outlook sets it on ordinary mail too
        "X-Auto-Response-Suppress: OOF, AutoReply",
        "Return-Path: <>",
        "Precedence: first-class",
        "Subject: Out of office replies from your system are not working",
        "Subject: Re: automatic reply settings",
        "Subject: Question about the delivery failure notice you sent",
    ],
)
def test_ordinary_signals_alone_do_not_suppress(headers):
    assert kind(headers) is None


def test_mail_from_our_own_address_is_a_loop():
    result = classify(parsed("From: Desk <Support@Desk.Example>"), own_addresses={"SUPPORT@desk.example"})
    assert result == Suppression("loop", "From our own address support@desk.example")


def test_x_loop_naming_us_is_a_loop():
    assert classify(parsed("X-Loop: billing@desk.example"), own_addresses=OURS) == Suppression(
        "loop", "X-Loop: billing@desk.example"
    )
    assert kind("X-Loop: someone-else@example.org") is None


def test_our_own_ticket_header_coming_back_is_a_loop():
    assert kind("X-Service-Desk-Ticket: SD-42") == "loop"


def test_loop_wins_over_auto_reply():
    assert kind("From: support@desk.example\nAuto-Submitted: auto-replied") == "loop"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: auto-notified; owner-email=x@example.com", "Auto-Submitted: auto-notified; owner-email"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: Out of office", "X-Autorespond: Out of office"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("X-Auto-Response-Suppress: All\nReturn-Path: <>", "X-Auto-Response-Suppress: All with an empty"),
    ],
)
def test_auto_reply_headers(headers, reason):
    result = classify(parsed(headers), own_addresses=OURS)
    assert result is not None
    assert result.kind == "auto_reply"
    assert result.reason.startswith(reason)


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: [SD-12] Printer",
        "Out of office",
        "Out of Office AutoReply: Invoice",
        "Automatic reply: Your ticket",
        "Automatische Antwort: Ihre Anfrage",
        "Abwesenheitsnotiz: AW: Rechnung",
        "Auto-Reply: hello",
        "AutoReply: hello",
        "Autoreply",
        "I am out of the office until 12/08/2025",
        "I'm currently out of the office",
        "Ich bin ab 01.08.2025 nicht im Büro.",
        "Ich bin bis zum 5. Mai nicht im Büro",
        "Ich bin vom 1.-5. Mai außer Haus",
        "Réponse automatique : votre demande",
        "Respuesta automática: su solicitud",
    ],
)
def test_out_of_office_subjects(subject):
    result = classify(parsed(f"Subject: {subject}"), own_addresses=OURS)
    assert result is not None
    assert result.kind == "auto_reply"
    assert subject in result.reason


def test_encoded_out_of_office_subject_is_recognised():
    assert kind("Subject: =?utf-8?q?Automatische_Antwort=3A_Ihre_Anfrage?=") == "auto_reply"


@pytest.mark.parametrize("precedence", ["bulk", "junk", "list", "BULK"])
def test_bulk_precedence(precedence):
    result = classify(parsed(f"Precedence: {precedence}\nList-Id: <news.example.com>"), own_addresses=OURS)
    assert result is not None
    assert result.kind == "bulk"
    assert result.reason == f"Precedence: {precedence.lower()} (List-Id: <news.example.com>)"


def test_bounce_by_sender_and_subject():
    result = classify(
        parsed("From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender"), own_addresses=OURS
    )
    assert result == Suppression("bounce", "Delivery status notification: Undelivered Mail Returned to Sender")


def test_bounce_by_failed_recipients_header():
    result = classify(parsed("X-Failed-Recipients: gone@example.org"), own_addresses=OURS)
    assert result == Suppression("bounce", "X-Failed-Recipients: gone@example.org")


def test_bounce_wins_over_auto_submitted():
    assert kind("From: postmaster@example.org\nSubject: failure notice\nAuto-Submitted: auto-replied") == "bounce"


def test_own_addresses_default_to_none():
    assert classify(parsed("From: support@desk.example")) is None


CORPUS_EXPECTED = {
    "zammad/mail033-undelivered-mail-returned-to-sender-notification.box": "bounce",
    "zammad/mail052.box": "bounce",
    "zammad/mail055.box": "bounce",
    "zammad/mail078.box": "bounce",  # a delay notification is a delivery status notification too
    "zammad/mail092.box": "bounce",
    "zammad/mail043.box": "bulk",
    "zammad/mail089.box": "auto_reply",  # ServiceNow notification: Auto-Submitted: auto-generated
    "zammad/mail090.box": "auto_reply",
}


@pytest.mark.skipif(not MAIL_DIR.is_dir(), reason=f"shared mail corpus not found at {MAIL_DIR}")
def test_real_world_corpus_classification():
    paths = sorted(MAIL_DIR.glob("zammad/*.box")) + sorted(MAIL_DIR.glob("django_helpdesk/*.eml"))
    assert paths
    found = {}
    for path in paths:
        result = classify(parse_email(path.read_bytes()), own_addresses=OURS)
        if result is not None:
            found[path.relative_to(MAIL_DIR).as_posix()] = result.kind
    assert found == CORPUS_EXPECTED
