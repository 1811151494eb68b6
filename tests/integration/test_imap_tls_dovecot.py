"""IMAP over TLS against a real Dovecot: certificates are checked (imaplib's default checks nothing)."""

from __future__ import annotations

import ssl

import pytest
from imap_tools import MailBoxUnencrypted

from channels_intake.email.transports import imap
from tests.integration.mail import raw_mail

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def empty_inbox(dovecot):
    with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(dovecot.user, dovecot.password) as box:
        if box.uids():
            box.delete(box.uids())
        if not box.folder.exists("Archive"):
            box.folder.create("Archive")
    return dovecot


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_ssl_connections_check_the_certificate(empty_inbox, security):
    if empty_inbox.cafile is None:
        pytest.skip("no TLS: openssl was not found to make a certificate")
    empty_inbox.deliver(raw_mail(message_id=f"<imap-{security}@consumer.example>"))

    def settings(context):
        port = empty_inbox.port if security == "starttls" else empty_inbox.imaps_port
        return imap.ImapSettings(
            host="127.0.0.1", port=port, security=security, username=empty_inbox.user, secret=empty_inbox.password,
            archive_folder="Archive", ssl_context=context,
        )  # fmt: skip

    def poll(context):
        stored = []
        result = imap.poll(
            settings(context), stored_remote_ids=lambda ids: set(), store=lambda raw, rid: stored.append(raw)
        )
        return result, stored

    # The system's trust store does not know the test certificate: refused before logging in.
    with pytest.raises(ssl.SSLCertVerificationError):
        poll(None)
    assert empty_inbox.count("INBOX") == 1

    result, stored = poll(ssl.create_default_context(cafile=str(empty_inbox.cafile)))
    assert (result.fetched, result.removed, len(stored)) == (1, 1, 1)
    assert empty_inbox.count("INBOX") == 0
