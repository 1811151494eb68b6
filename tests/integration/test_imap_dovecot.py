"""IMAP polling against a real Dovecot: nothing removed before it is committed, nothing fetched twice."""

from __future__ import annotations

import pytest
from imap_tools import MailBoxUnencrypted

from channels_intake import services as intake
from channels_intake.email.transports import imap
from channels_intake.models import InboundMessage, Mailbox, Outcome, Security
from tests.integration.mail import raw_mail
from tickets.models import Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def imap_mailbox(dovecot):
    with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(dovecot.user, dovecot.password) as box:
        if box.uids():
            box.delete(box.uids())
        if not box.folder.exists("Archive"):
            box.folder.create("Archive")
    return Mailbox.objects.create(
        name="IMAP",
        email_address="support@desk.example",
        host="127.0.0.1",
        port=dovecot.port,
        security=Security.NONE,
        username=dovecot.user,
        secret=dovecot.password,
        archive_folder="Archive",
    )


def test_poll_stores_processes_and_moves_mail_to_the_archive(dovecot, imap_mailbox, django_capture_on_commit_callbacks):
    dovecot.deliver(raw_mail(message_id="<imap-1@consumer.example>"))
    dovecot.deliver(raw_mail(message_id="<imap-2@consumer.example>", subject="Second"))
    with django_capture_on_commit_callbacks(execute=True):
        assert intake.mailbox_poll(imap_mailbox.pk) == 2
    assert InboundMessage.objects.filter(mailbox=imap_mailbox, outcome=Outcome.TICKET_CREATED).count() == 2
    assert all(r.startswith("127.0.0.1/INBOX:") for r in InboundMessage.objects.values_list("remote_id", flat=True))
    assert Ticket.objects.count() == 2
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("Archive") == 2
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.last_polled_at is not None and imap_mailbox.last_error == ""


def test_crash_between_fetch_and_commit_leaves_the_mail_on_the_server(dovecot, imap_mailbox, monkeypatch):
    dovecot.deliver(raw_mail(message_id="<imap-crash@consumer.example>"))

    def crash(**kwargs):
        raise RuntimeError("worker killed before commit")

    monkeypatch.setattr(intake, "inbound_store", crash)
    assert intake.mailbox_poll(imap_mailbox.pk) == 0
    imap_mailbox.refresh_from_db()
    assert "worker killed" in imap_mailbox.last_error
    assert dovecot.count("INBOX") == 1
    assert not InboundMessage.objects.exists()

    monkeypatch.undo()
    assert intake.mailbox_poll(imap_mailbox.pk) == 1
    assert InboundMessage.objects.count() == 1
    assert dovecot.count("INBOX") == 0


def test_crash_after_commit_is_not_fetched_twice(dovecot, imap_mailbox, monkeypatch):
    dovecot.deliver(raw_mail(message_id="<imap-after@consumer.example>"))
    original_remove = imap._remove

    def crash(*args):
        raise RuntimeError("worker killed after commit")

    monkeypatch.setattr(imap, "_remove", crash)
    intake.mailbox_poll(imap_mailbox.pk)
    assert InboundMessage.objects.count() == 1
    assert dovecot.count("INBOX") == 1

    monkeypatch.setattr(imap, "_remove", original_remove)
    fetched = []
    real_fetch = imap._fetch_raw
    monkeypatch.setattr(imap, "_fetch_raw", lambda box, uid: fetched.append(uid) or real_fetch(box, uid))
    assert intake.mailbox_poll(imap_mailbox.pk) == 0
    assert fetched == []  # recognised by its UID: not downloaded again
    assert InboundMessage.objects.count() == 1
    assert dovecot.count("INBOX") == 0


def test_wrong_password_is_recorded_on_the_mailbox(dovecot, imap_mailbox):
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(secret="wrong")
    assert intake.mailbox_poll(imap_mailbox.pk) == 0
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.last_error
