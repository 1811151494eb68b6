"""POP3 polling against a real Dovecot: nothing deleted before it is committed, nothing fetched twice."""

from __future__ import annotations

import poplib
import ssl

import pytest
from django.core.exceptions import ValidationError

from channels_intake import services as intake
from channels_intake.email.transports import pop3
from channels_intake.models import InboundMessage, Mailbox, Outcome, Protocol, Security, Source
from tests.integration.mail import raw_mail
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _on_server(server) -> int:
    """Messages in the maildrop, as a new POP3 session sees them."""
    client = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    try:
        client.user(server.user)
        client.pass_(server.password)
        return client.stat()[0]
    finally:
        client.quit()


@pytest.fixture
def pop3_mailbox(dovecot_pop3):
    client = poplib.POP3("127.0.0.1", dovecot_pop3.pop3_port, timeout=10)
    client.user(dovecot_pop3.user)
    client.pass_(dovecot_pop3.password)
    for number in range(1, client.stat()[0] + 1):  # an empty maildrop (the IMAP tests share it)
        client.dele(number)
    client.quit()
    return Mailbox.objects.create(
        name="POP3",
        email_address="support@desk.example",
        protocol=Protocol.POP3,
        host="127.0.0.1",
        port=dovecot_pop3.pop3_port,
        security=Security.NONE,
        username=dovecot_pop3.user,
        secret=dovecot_pop3.password,
    )


def test_poll_stores_processes_and_deletes_mail_from_the_server(
    dovecot_pop3, pop3_mailbox, django_capture_on_commit_callbacks
):
    dovecot_pop3.deliver(raw_mail(message_id="<pop3-1@consumer.example>"))
    dovecot_pop3.deliver(raw_mail(message_id="<pop3-2@consumer.example>", subject="Second"))
    with django_capture_on_commit_callbacks(execute=True):
        assert intake.mailbox_poll(pop3_mailbox.pk) == 2
    rows = InboundMessage.objects.filter(mailbox=pop3_mailbox)
    assert sorted(rows.values_list("outcome", "source")) == [(Outcome.TICKET_CREATED, Source.POP3)] * 2
    assert all(r.startswith("pop3:127.0.0.1/agent@desk.example:") for r in rows.values_list("remote_id", flat=True))
    assert Ticket.objects.count() == 2
    assert _on_server(dovecot_pop3) == 0
    pop3_mailbox.refresh_from_db()
    assert pop3_mailbox.last_polled_at is not None and pop3_mailbox.last_error == ""


def test_the_raw_message_arrives_byte_for_byte_with_long_lines_and_leading_dots(dovecot_pop3, pop3_mailbox):
    body = "." + "x" * 5000 + "\n..two dots\n.\nend"  # over poplib's 2 kB line limit; dot-stuffed lines
    sent = raw_mail(message_id="<pop3-raw@consumer.example>", body=body)
    dovecot_pop3.deliver(sent)
    assert intake.mailbox_poll(pop3_mailbox.pk) == 1
    stored = bytes(InboundMessage.objects.get(mailbox=pop3_mailbox).raw)
    assert stored == sent.replace(b"\n", b"\r\n")  # POP3 sends CRLF lines


def test_crash_between_fetch_and_commit_leaves_the_mail_on_the_server(dovecot_pop3, pop3_mailbox, monkeypatch):
    dovecot_pop3.deliver(raw_mail(message_id="<pop3-crash@consumer.example>"))

    def crash(**kwargs):
        raise RuntimeError("worker killed before commit")

    monkeypatch.setattr(intake, "inbound_store", crash)
    assert intake.mailbox_poll(pop3_mailbox.pk) == 0
    pop3_mailbox.refresh_from_db()
    assert "worker killed" in pop3_mailbox.last_error
    assert _on_server(dovecot_pop3) == 1
    assert not InboundMessage.objects.exists()

    monkeypatch.undo()
    assert intake.mailbox_poll(pop3_mailbox.pk) == 1
    assert InboundMessage.objects.count() == 1
    assert _on_server(dovecot_pop3) == 0


def test_a_failure_after_some_commits_deletes_nothing_and_the_next_poll_fetches_only_the_rest(
    dovecot_pop3, pop3_mailbox, monkeypatch
):
    for n in range(3):
        dovecot_pop3.deliver(raw_mail(message_id=f"<pop3-part-{n}@consumer.example>"))
    real_store = intake.inbound_store
    calls = []

    def store_two_then_crash(**kwargs):
        calls.append(kwargs["remote_id"])
        if len(calls) == 3:
            raise RuntimeError("worker killed on the third message")
        return real_store(**kwargs)

    monkeypatch.setattr(intake, "inbound_store", store_two_then_crash)
    assert intake.mailbox_poll(pop3_mailbox.pk) == 0
    assert InboundMessage.objects.count() == 2
    assert _on_server(dovecot_pop3) == 3  # the two committed ones too: deleted only once all are committed

    monkeypatch.undo()
    fetched = []
    real_fetch = pop3._fetch_raw
    monkeypatch.setattr(pop3, "_fetch_raw", lambda client, number: fetched.append(number) or real_fetch(client, number))
    assert intake.mailbox_poll(pop3_mailbox.pk) == 1
    assert len(fetched) == 1  # the two stored ones are recognised by their UIDL
    assert InboundMessage.objects.count() == 3
    assert _on_server(dovecot_pop3) == 0


def test_crash_after_commit_is_not_fetched_twice(dovecot_pop3, pop3_mailbox, monkeypatch):
    dovecot_pop3.deliver(raw_mail(message_id="<pop3-after@consumer.example>"))

    def crash(*args):
        raise RuntimeError("worker killed after commit")

    monkeypatch.setattr(pop3, "_delete", crash)
    intake.mailbox_poll(pop3_mailbox.pk)
    assert InboundMessage.objects.count() == 1
    assert _on_server(dovecot_pop3) == 1

    monkeypatch.undo()
    fetched = []
    real_fetch = pop3._fetch_raw
    monkeypatch.setattr(pop3, "_fetch_raw", lambda client, number: fetched.append(number) or real_fetch(client, number))
    assert intake.mailbox_poll(pop3_mailbox.pk) == 0
    assert fetched == []  # recognised by its UIDL: not downloaded again
    assert InboundMessage.objects.count() == 1
    assert _on_server(dovecot_pop3) == 0


def test_a_session_that_ends_without_quit_deletes_nothing(dovecot_pop3, pop3_mailbox, monkeypatch):
    """What the design relies on: the server deletes marked messages only at QUIT (a killed worker
    closes the connection without it)."""
    dovecot_pop3.deliver(raw_mail(message_id="<pop3-noquit@consumer.example>"))
    monkeypatch.setattr(poplib.POP3, "quit", poplib.POP3.close)  # DELE sent, then the connection drops
    assert intake.mailbox_poll(pop3_mailbox.pk) == 1
    assert _on_server(dovecot_pop3) == 1

    monkeypatch.undo()
    assert intake.mailbox_poll(pop3_mailbox.pk) == 0
    assert InboundMessage.objects.count() == 1
    assert _on_server(dovecot_pop3) == 0


def test_wrong_password_is_recorded_on_the_mailbox(dovecot_pop3, pop3_mailbox):
    Mailbox.objects.filter(pk=pop3_mailbox.pk).update(secret="wrong")
    dovecot_pop3.deliver(raw_mail(message_id="<pop3-wrong@consumer.example>"))
    assert intake.mailbox_poll(pop3_mailbox.pk) == 0
    pop3_mailbox.refresh_from_db()
    assert pop3_mailbox.last_error
    assert _on_server(dovecot_pop3) == 1


def _settings(server, *, port: int, security: str, context: ssl.SSLContext | None) -> pop3.Pop3Settings:
    return pop3.Pop3Settings(
        host="127.0.0.1",
        port=port,
        security=security,
        username=server.user,
        secret=server.password,
        ssl_context=context,
    )


def _poll(config: pop3.Pop3Settings) -> tuple[pop3.PollResult, list[str]]:
    stored: list[str] = []
    result = pop3.poll(config, stored_remote_ids=lambda ids: set(), store=lambda raw, remote_id: stored.append(raw))
    return result, stored


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_ssl_connections_check_the_certificate(dovecot_pop3, pop3_mailbox, security):
    if dovecot_pop3.cafile is None:
        pytest.skip("no TLS: openssl was not found to make a certificate")
    port = dovecot_pop3.pop3_port if security == "starttls" else dovecot_pop3.pop3s_port
    dovecot_pop3.deliver(raw_mail(message_id=f"<pop3-{security}@consumer.example>"))

    # The system's trust store does not know the test certificate: refused before logging in.
    with pytest.raises(ssl.SSLCertVerificationError):
        _poll(_settings(dovecot_pop3, port=port, security=security, context=None))
    assert _on_server(dovecot_pop3) == 1

    trusted = ssl.create_default_context(cafile=str(dovecot_pop3.cafile))
    result, stored = _poll(_settings(dovecot_pop3, port=port, security=security, context=trusted))
    assert (result.fetched, result.removed, len(stored)) == (1, 1, 1)
    assert _on_server(dovecot_pop3) == 0


def test_the_admin_form_says_which_protocols_are_polled(admin_client):
    page = admin_client.get("/admin/channels_intake/mailbox/add/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Both are polled every minute" in text
    assert "POP3: processed mail is deleted from the server" in text


def test_a_pop3_mailbox_with_an_archive_folder_is_refused():
    mailbox = Mailbox(
        name="P", email_address="p@desk.example", protocol=Protocol.POP3, host="pop.example", archive_folder="Done"
    )
    with pytest.raises(ValidationError) as error:
        mailbox.full_clean()
    assert set(error.value.message_dict) == {"archive_folder"}
    Mailbox(name="P", email_address="p@desk.example", protocol=Protocol.POP3, host="pop.example").full_clean()
