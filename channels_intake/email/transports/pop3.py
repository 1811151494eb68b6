"""POP3 adapter: fetch raw messages and delete them on the server only after they are committed.

No parsing here. Each new message is downloaded (RETR) and handed to ``store``, which commits its
raw bytes and returns. Only when every message of the poll is committed are they marked for
deletion (DELE), and POP3 deletes marked messages only when the session ends with QUIT. So:

- a crash (or any error) before the end leaves every message on the server: the session ends
  without QUIT, the server deletes nothing, and the next poll fetches what was not committed;
- a message committed by a poll that then failed is recognised by its UIDL on the next poll and
  deleted without being downloaded again.

The remote id of a message is its UIDL (unique and stable per maildrop, RFC 1939) with the server
and user it came from. A server without UIDL is refused: without it a message could be stored twice.
POP3 has no folders: the mailbox's folder and archive folder do not apply.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import poplib
import ssl
from collections.abc import Callable, Container
from dataclasses import dataclass

from channels_intake.email.transports import PollResult

__all__ = ["Pop3Settings", "PollResult", "poll"]

_MAX_REMOTE_ID = 255
_READ_BYTES = 1024 * 1024  # one read of a (long) line; longer lines arrive in several reads


@dataclass(frozen=True)
class Pop3Settings:
    host: str
    port: int
    security: str  # "ssl" | "starttls" | "none"
    username: str
    secret: str
    timeout: float = 30.0
    # None: the system's trusted certificates, with host name checking (ssl.create_default_context()).
    ssl_context: ssl.SSLContext | None = None


class Pop3Error(poplib.error_proto):
    """The server cannot be polled safely (e.g. it does not support UIDL)."""


def poll(
    config: Pop3Settings,
    *,
    stored_remote_ids: Callable[[list[str]], Container[str]],
    store: Callable[[bytes, str], object],
    limit: int = 500,
) -> PollResult:
    """Fetch up to ``limit`` messages; ``store(raw, remote_id)`` must commit before returning."""
    result = PollResult()
    client = _connect(config)
    try:
        client.user(config.username)
        client.pass_(config.secret)
        messages = _unique_ids(client)[:limit]
        remote_ids = {number: _remote_id(config, uid) for number, uid in messages}
        known = stored_remote_ids(list(remote_ids.values()))
        for number, _uid in messages:
            if remote_ids[number] in known:
                result.already_stored += 1
                continue
            store(_fetch_raw(client, number), remote_ids[number])
            result.fetched += 1
        # Every message of this poll is committed now; the server deletes them at QUIT.
        for number, _uid in messages:
            _delete(client, number)
        client.quit()
    except BaseException:
        _close(client)  # without QUIT: the server deletes nothing marked in this session
        raise
    result.removed = len(messages)
    return result


def _connect(config: Pop3Settings) -> poplib.POP3:
    if config.security == "ssl":
        return poplib.POP3_SSL(config.host, config.port, timeout=config.timeout, context=_context(config))
    client = poplib.POP3(config.host, config.port, timeout=config.timeout)
    if config.security == "starttls":
        try:
            client.stls(context=_context(config))
        except BaseException:
            _close(client)
            raise
    elif config.security != "none":
        _close(client)
        raise ValueError(f"Unknown security {config.security!r}.")
    return client


def _close(client: poplib.POP3) -> None:
    """Drop the connection, keeping the error that got us here (a failed TLS handshake leaves a dead socket)."""
    with contextlib.suppress(OSError):
        client.close()


def _context(config: Pop3Settings) -> ssl.SSLContext:
    return config.ssl_context or ssl.create_default_context()


def _unique_ids(client: poplib.POP3) -> list[tuple[int, str]]:
    """(message number, UIDL) of every message, in message-number order."""
    try:
        _response, lines, _octets = client.uidl()
    except poplib.error_proto as exc:
        raise Pop3Error(f"The server does not support UIDL ({exc}); POP3 polling needs it.") from exc
    found = []
    for line in lines:
        number, _, uid = line.decode("ascii", "backslashreplace").strip().partition(" ")
        uid = uid.strip()
        if not number.isdigit() or not uid:
            raise Pop3Error(f"Unreadable UIDL line: {line[:100]!r}")
        found.append((int(number), uid))
    return sorted(found)


def _remote_id(config: Pop3Settings, uid: str) -> str:
    """Server, user and UIDL: a UIDL from another server or maildrop never counts as stored."""
    remote_id = f"pop3:{config.host}/{config.username}:{uid}"
    if len(remote_id) <= _MAX_REMOTE_ID:
        return remote_id
    # Never truncated (a cut-off UIDL could match another message): a digest of the whole instead.
    return f"pop3-sha256:{hashlib.sha256(remote_id.encode('utf-8', 'backslashreplace')).hexdigest()}"


def _fetch_raw(client: poplib.POP3, number: int) -> bytes:
    """The message as the server sent it (CRLF lines, dot-stuffing undone).

    Read here rather than with ``POP3.retr``: that one refuses lines over 2 kB, which real mail has,
    and builds a list of every line.
    """
    client._shortcmd(f"RETR {number}")  # raises error_proto unless the answer is +OK
    out = io.BytesIO()
    at_line_start = True
    while True:
        piece = client.file.readline(_READ_BYTES)
        if not piece:
            raise poplib.error_proto("-ERR connection closed during RETR")
        if at_line_start:
            if piece in (b".\r\n", b".\n"):
                return out.getvalue()
            if piece.startswith(b".."):
                piece = piece[1:]
        out.write(piece)
        at_line_start = piece.endswith(b"\n")


def _delete(client: poplib.POP3, number: int) -> None:
    client.dele(number)
