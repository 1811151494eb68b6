"""IMAP adapter: fetch raw messages and remove them from the server only after they are committed.

No parsing here. ``store`` commits the raw bytes and returns; only then is the server message
moved to the archive folder or deleted. A crash before the commit leaves the message on the
server (fetched again next time); a crash after it leaves a stored row whose remote id is
recognised on the next poll, so the message is not downloaded twice.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted


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


@dataclass
class PollResult:
    fetched: int = 0
    already_stored: int = 0
    removed: int = 0


def _connect(config: ImapSettings) -> MailBox | MailBoxUnencrypted | MailBoxStartTls:
    if config.security == "ssl":
        return MailBox(config.host, config.port, timeout=config.timeout)
    if config.security == "starttls":
        return MailBoxStartTls(config.host, config.port, timeout=config.timeout)
    return MailBoxUnencrypted(config.host, config.port, timeout=config.timeout)


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
        # Host and folder are part of the id: after a move to another server or folder whose
        # UIDVALIDITY happens to match, a UID must never count as "already stored".
        remote_ids = {uid: f"{config.host}/{config.folder}:{validity}:{uid}"[:255] for uid in uids}
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
