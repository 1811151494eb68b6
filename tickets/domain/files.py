"""Attachment rules: safe display names and content-type sniffing from the bytes. Pure, no Django."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import filetype

MAX_FILENAME = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"/\\|?*]")
# Types a browser would render or run: never served inline, always as a download.
ACTIVE_CONTENT_TYPES = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"})


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """Strip paths, control characters and bidi tricks; keep the extension; never empty."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cf", "Cc"))
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name:
        return fallback
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name


def sniff_content_type(data: bytes) -> str:
    """The type the bytes really are. Text stays text/plain, whatever the sender claimed."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    head = data[:8192]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
        return "text/plain"
    return "application/octet-stream"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
