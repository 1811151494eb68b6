"""IMAP adapter: fetch raw messages and remove them from the server only after they are committed.

No parsing here. ``store`` commits the raw bytes and returns; only then is the server message
moved to the archive folder or deleted. A crash before the commit leaves the message on the
server (fetched again next time); a crash after it leaves a stored row whose remote id is
recognised on the next poll, so the message is not downloaded twice.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Container
from dataclasses import dataclass

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

from channels_intake.email.transports import PollResult

__all__ = ["ImapSettings", "PollResult", "poll"]

_MAX_REMOTE_ID = 255  # InboundMessage.remote_id


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # "ssl" | "starttls" | "none"
    username: str
    secret: str
    folder: str = "INBOX"
    archive_folder: str = ""
    timeout: float = 30.0
    # None: the system's trusted certificates, with host name checking (ssl.create_default_context()).
    # imaplib's own default checks nothing.
    ssl_context: ssl.SSLContext | None = None


def _connect(config: ImapSettings) -> MailBox | MailBoxUnencrypted | MailBoxStartTls:
    if config.security == "ssl":
        return MailBox(config.host, config.port, timeout=config.timeout, ssl_context=_context(config))
    if config.security == "starttls":
        return MailBoxStartTls(config.host, config.port, timeout=config.timeout, ssl_context=_context(config))
    return MailBoxUnencrypted(config.host, config.port, timeout=config.timeout)


def _context(config: ImapSettings) -> ssl.SSLContext:
    return config.ssl_context or ssl.create_default_context()


def poll(
    config: ImapSettings,
    *,
    stored_remote_ids: Callable[[list[str]], Container[str]],
    store: Callable[[bytes, str], object],
    limit: int = 500,
) -> PollResult:
    """Fetch up to ``limit`` messages from the folder; ``store(raw, remote_id)`` must commit before returning."""
    result = PollResult()
    with _connect(config).login(config.username, config.secret, initial_folder=config.folder) as mailbox:
        status = mailbox.folder.status(config.folder, ["UIDVALIDITY"])
        validity = str(status.get("UIDVALIDITY", "0"))
        uids = mailbox.uids()[:limit]
        remote_ids = {uid: _remote_id(config, validity, uid) for uid in uids}
        known = stored_remote_ids(list(remote_ids.values()))
        for uid in uids:
            remote_id = remote_ids[uid]
            if remote_id in known:
                result.already_stored += 1
            else:
                raw = _fetch_raw(mailbox, uid)
                if raw is None:
                    continue  # expunged meanwhile by another client
                store(raw, remote_id)
                result.fetched += 1
            _remove(mailbox, uid, config.archive_folder)
            result.removed += 1
    return result


def _remote_id(config: ImapSettings, validity: str, uid: str) -> str:
    """Host and folder are part of the id: after a move to another server or folder whose
    UIDVALIDITY happens to match, a UID must never count as "already stored"."""
    remote_id = f"{config.host}/{config.folder}:{validity}:{uid}"
    if len(remote_id) <= _MAX_REMOTE_ID:
        return remote_id
    # Never cut off (every UID of a long folder name would become the same id, and a message
    # recognised as stored by mistake is removed from the server): a digest of the whole instead.
    return f"imap-sha256:{hashlib.sha256(remote_id.encode('utf-8', 'backslashreplace')).hexdigest()}"


def _fetch_raw(mailbox: MailBox, uid: str) -> bytes | None:
    status, data = mailbox.client.uid("fetch", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _remove(mailbox: MailBox, uid: str, archive_folder: str) -> None:
    if archive_folder:
        mailbox.move(uid, archive_folder)
    else:
        mailbox.delete(uid)
