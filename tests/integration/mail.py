"""Building raw test mail."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import formatdate

_n = itertools.count(1)


def raw_mail(
    *,
    sender: str = "Carla Kunde <carla@consumer.example>",
    to: str = "support@desk.example",
    cc: str = "",
    subject: str = "My order did not arrive",
    body: str = "Hello, my order 4711 did not arrive. Regards, Carla",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    html: str = "",
    attachments: tuple[tuple[str, bytes, str], ...] = (),
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = formatdate()
    message["Message-ID"] = message_id if message_id is not None else f"<test-{next(_n)}@consumer.example>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    for filename, content, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
