"""Branding rules: which logo files are accepted, and the fallback for the desk's name. Pure, no Django.

A logo is shown in the portal and linked from emails, so only raster images a browser shows as an
image are accepted: PNG, JPEG, GIF and WebP, recognised from the bytes (never from the name or the
type the browser claimed), at most ``MAX_LOGO_BYTES``. SVG is refused: it is a document that can
carry scripts. An HTML page named ``logo.png`` is refused because its bytes are not an image.
"""

from __future__ import annotations

import filetype

MAX_LOGO_BYTES = 1024 * 1024
LOGO_TYPES: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
}


class LogoRejected(ValueError):
    """The file is not an acceptable logo; the message says why (English, translated by the caller)."""

    def __init__(self, message: str, *, code: str) -> None:
        self.code = code
        super().__init__(message)


def logo_type(data: bytes) -> str:
    """The MIME type of an acceptable logo, from its bytes; :class:`LogoRejected` otherwise."""
    if not data:
        raise LogoRejected("The file is empty.", code="empty")
    if len(data) > MAX_LOGO_BYTES:
        raise LogoRejected("The logo is larger than 1 MB.", code="too_large")
    kind = filetype.guess(data[:8192])
    if kind is None or kind.mime not in LOGO_TYPES:
        raise LogoRejected("Upload a PNG, JPEG, GIF or WebP image (SVG is not accepted).", code="type")
    return kind.mime


def logo_extension(mime: str) -> str:
    return LOGO_TYPES[mime]


def brand_name(configured: str, fallback: str) -> str:
    """The configured name, trimmed; the deployment's ``SERVICE_DESK_NAME`` when empty."""
    name = " ".join((configured or "").split())
    return name or " ".join((fallback or "").split()) or "Service Desk"
