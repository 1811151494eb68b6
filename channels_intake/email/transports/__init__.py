"""Adapters for the mail servers we poll (IMAP, POP3): fetch raw bytes, remove only what is committed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PollResult:
    fetched: int = 0  # downloaded and stored now
    already_stored: int = 0  # stored by an earlier poll (recognised by its remote id), not downloaded again
    removed: int = 0  # removed from the server (or moved to the archive folder)
