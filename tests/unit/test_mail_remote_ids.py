"""Remote ids of polled mail: one per message, whatever the length of host, folder or user names.

A remote id that two messages share makes the second one look stored already, and a message that
looks stored is removed from the server: the ids must never be cut off to fit the column.
"""

from __future__ import annotations

from channels_intake.email.transports import imap, pop3


def _imap(folder: str) -> imap.ImapSettings:
    return imap.ImapSettings(host="imap.example.com", port=993, security="ssl", username="u", secret="s", folder=folder)


def _pop3(username: str) -> pop3.Pop3Settings:
    return pop3.Pop3Settings(host="pop.example.com", port=995, security="ssl", username=username, secret="s")


def test_imap_remote_ids_are_readable_when_short_and_unique_when_long():
    assert imap._remote_id(_imap("INBOX"), "7", "42") == "imap.example.com/INBOX:7:42"
    long_folder = _imap("Support/" + "Archive" * 40)
    ids = {imap._remote_id(long_folder, "7", str(uid)) for uid in range(1000)}
    assert len(ids) == 1000 and all(len(i) <= 255 for i in ids)


def test_pop3_remote_ids_are_readable_when_short_and_unique_when_long():
    assert pop3._remote_id(_pop3("agent"), "00000001abc") == "pop3:pop.example.com/agent:00000001abc"
    long_user = _pop3("agent-" + "x" * 250 + "@example.com")
    ids = {pop3._remote_id(long_user, f"{uid:08X}0000abcd") for uid in range(1000)}
    assert len(ids) == 1000 and all(len(i) <= 255 for i in ids)
