"""Raw RFC 5322 / MIME bytes -> ``ParsedEmail``: the pure first step of the email intake channel.

No Django, no ORM, no I/O. Real-world mail is broken in every possible way, so the parser is built on
``email`` with the ``compat32`` policy (it never raises on bad headers) and does its own header
decoding: RFC 2047 words (also split inside a multi-byte character), undeclared 8-bit bytes, wrong or
unknown charsets. Whatever the input, ``parse_email`` returns a ``ParsedEmail`` or raises
``EmailParseError``; size limits are checked on the raw bytes before the email package sees them.

Memory: a message is read once, without copies of the whole. Long runs of base64 lines (the body of
a large attachment) are not handed to the email package at all: each reaches it as one placeholder
line and is decoded later, chunk by chunk, straight from the raw bytes. So a 20 MB attachment costs
its 20 MB of decoded bytes, not the five or six copies of text and lines the email package would make.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import html as html_lib
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_string
from email.errors import MessageError
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from urllib.parse import unquote

from channels_intake.email.html import html_to_text, sanitize_html

__all__ = [
    "Address",
    "EmailParseError",
    "ParsedAttachment",
    "ParsedEmail",
    "SkippedPart",
    "decode_bytes",
    "decode_header_value",
    "dedupe_key",
    "normalize_msgid",
    "parse_email",
]

MB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Address:
    name: str
    email: str  # lower-cased, stripped


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # as sent (RFC 2231 / 2047 decoded), not sanitised; generated when none was sent
    content: bytes
    declared_type: str
    content_id: str  # without <>, "" if none
    is_inline: bool


@dataclass(frozen=True)
class SkippedPart:
    filename: str
    size: int
    reason: str


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    subject: str
    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    text: str
    html: str  # sanitised
    attachments: tuple[ParsedAttachment, ...]
    skipped: tuple[SkippedPart, ...]
    headers: Mapping[str, str]
    is_bounce: bool
    bounced_message_id: str
    defects: tuple[str, ...]


class EmailParseError(ValueError):
    """The message is unusable (empty, no headers, over a limit, nested too deep ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Limits:
    attachment_bytes: int
    parts: int
    header_bytes: int
    depth: int


# --------------------------------------------------------------------------------------------------
# Charsets

_LATIN_CODECS = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})
_UNDECLARED_NAMES = frozenset(
    {"unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined", "8bit", "binary", "none", "charset"}
)
# Real-world senders label text with the smaller charset; decode with the superset (as browsers do).
_CHARSET_SUPERSETS: dict[str, tuple[str, ...]] = {
    "ascii": ("ascii",),
    "iso8859-1": ("cp1252", "latin-1"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "euc_kr": ("cp949",),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "big5": ("big5hkscs", "cp950"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "x-iso2022jp-ms", "iso2022_jp_2004", "iso2022_jp_2"),
    "tis-620": ("cp874",),
    "iso8859-11": ("cp874",),
}
_EXTRA_ALIASES = {
    "x-gbk": "gbk",
    "iso-8859-8-i": "iso8859-8",
    "windows-874": "cp874",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "unicode-1-1-utf-7": "utf-7",
    "x-sjis": "shift_jis",
    "ms932": "cp932",
    "x-euc-jp": "euc_jp",
    "iso-2022-jp-ms": "iso2022_jp",
    "cp50220": "iso2022_jp",
    "cp50221": "iso2022_jp",
}
# Text codecs that make no sense in mail and are expensive or surprising to run on foreign input.
_REFUSED_CODECS = frozenset(
    {"punycode", "idna", "raw_unicode_escape", "unicode_escape", "undefined", "mbcs", "oem", "charmap"}
)
_MAX_CHARSET_NAME = 40


def _codec_name(charset: str) -> str | None:
    """Python codec name for a declared charset, or None when unknown / not a text encoding."""
    name = charset.strip().strip("\"'").lower()
    if not name or len(name) > _MAX_CHARSET_NAME:
        return None
    name = _EXTRA_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return info.name


def _candidates(codec: str) -> tuple[str, ...]:
    return _CHARSET_SUPERSETS.get(codec, (codec,))


# For raw 8-bit bytes (headers, undeclared parts) the message's own charset is the best guess; for
# the 7-bit ISO-2022 charsets that means their 8-bit relatives.
_HINT_FAMILIES: dict[str, tuple[str, ...]] = {
    "iso2022_jp": ("cp932", "euc_jp"),
    "iso2022_jp_ext": ("cp932", "euc_jp"),
    "euc_jp": ("euc_jp", "cp932"),
    "iso2022_kr": ("cp949",),
}


def _hint_candidates(hint: str | None) -> tuple[str, ...]:
    codec = _codec_name(hint) if hint else None
    if codec is None or codec in {"ascii", "utf-8", "utf-7"}:
        return ()
    return _HINT_FAMILIES.get(codec) or _candidates(codec)


def _jis_to_sjis(first: int, second: int) -> bytes:
    lead = (first + 1) // 2 + (0x70 if first < 0x5F else 0xB0)
    if first % 2:
        trail = second + (0x20 if second >= 0x60 else 0x1F)
    else:
        trail = second + 0x7E
    return bytes((lead, trail))


_ISO2022JP_ESCAPE = re.compile(rb"(\x1b(?:\$[@B]|\([BJI]))")


def _decode_iso2022jp_ms(data: bytes) -> str | None:
    """ISO-2022-JP as Microsoft writes it (CP50220: NEC and IBM extensions such as ①), via CP932."""
    out = bytearray()
    mode = b"(B"
    for piece in _ISO2022JP_ESCAPE.split(data):
        if piece.startswith(b"\x1b"):
            mode = piece[1:]
        elif mode in {b"$@", b"$B"}:
            if not _append_jis(out, piece):
                return None
        elif mode == b"(I":
            out += bytes(byte + 0x80 if 0x21 <= byte <= 0x5F else byte for byte in piece)
        else:
            out += piece
    return _try_decode(bytes(out), "cp932")


def _append_jis(out: bytearray, piece: bytes) -> bool:
    index = 0
    while index < len(piece):
        first = piece[index]
        if not 0x21 <= first <= 0x7E:
            out.append(first)
            index += 1
            continue
        if index + 1 >= len(piece) or not 0x21 <= piece[index + 1] <= 0x7E:
            return False
        out += _jis_to_sjis(first, piece[index + 1])
        index += 2
    return True


_ISO2022JP_MS = "x-iso2022jp-ms"
_LABELS = {"cp1252": "windows-1252", "cp932": "shift_jis (cp932)", "gb18030": "gb18030", "cp949": "euc-kr (cp949)"}


def _try_decode(data: bytes, codec: str) -> str | None:
    if codec == _ISO2022JP_MS:
        return _decode_iso2022jp_ms(data)
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        return None


def _first_decoding(data: bytes, codecs_to_try: Iterable[str]) -> str | None:
    for codec in codecs_to_try:
        text = _try_decode(data, codec)
        if text is not None:
            return text
    return None


def _decode_undeclared(data: bytes, hint: str | None = None) -> tuple[str, str]:
    """Bytes without a usable charset: ISO-2022-JP by its escapes, UTF-8 if valid, the hint, then Windows-1252."""
    if b"\x1b$" in data:
        text = _try_decode(data, "iso2022_jp") or _decode_iso2022jp_ms(data)
        if text is not None:
            return text, "iso-2022-jp"
    for codec in ("utf-8", *_hint_candidates(hint), "cp1252"):
        text = _try_decode(data, codec)
        if text is not None:
            return text, _LABELS.get(codec, codec)
    return data.decode("latin-1"), "latin-1"


def decode_bytes(data: bytes, charset: str | None, defects: list[str], hint: str | None = None) -> str:
    """Decode text bytes declared as ``charset`` (may be None, wrong or unknown); notes problems in ``defects``.

    ``hint`` is another charset the message declares, used for undeclared 8-bit bytes.
    """
    if not data:
        return ""
    declared = (charset or "").strip().strip("\"'").lower()
    if declared in _UNDECLARED_NAMES:
        declared = ""
    codec = _codec_name(declared) if declared else None
    if declared and codec is None:
        text, used = _decode_undeclared(data, hint)
        defects.append(f"unknown charset {declared[:_MAX_CHARSET_NAME]!r}; decoded as {used}")
        return text
    if codec is None or codec in _LATIN_CODECS:
        return _decode_latin_or_utf8(data, declared, codec, defects, hint)
    decoded = _first_decoding(data, _candidates(codec))
    if decoded is not None:
        return decoded
    decoded = _try_decode(data, "utf-8")
    if decoded is not None:
        defects.append(f"text declared as {declared} is not valid {declared}; decoded as utf-8")
        return decoded
    defects.append(f"invalid {declared} bytes replaced")
    return data.decode(_candidates(codec)[0], "replace")


def _decode_latin_or_utf8(data: bytes, declared: str, codec: str | None, defects: list[str], hint: str | None) -> str:
    """Bytes declared as nothing, ASCII or a Latin charset: mislabelled UTF-8 is the usual case."""
    if data.isascii() and b"\x1b$" not in data:
        return data.decode("ascii")
    utf8 = _try_decode(data, "utf-8")
    if utf8 is not None and b"\x1b$" not in data:
        what = f"text declared as {declared}" if declared else "undeclared 8-bit text"
        defects.append(f"{what} decoded as utf-8")
        return utf8
    if codec is not None and codec != "ascii":
        decoded = _first_decoding(data, _candidates(codec))
        if decoded is not None:
            return decoded
    text, used = _decode_undeclared(data, hint)
    what = f"8-bit text declared as {declared}" if declared else "undeclared 8-bit text"
    defects.append(f"{what} decoded as {used}")
    return text


# --------------------------------------------------------------------------------------------------
# Headers

_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]*")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,80})\?([QqBb])\?([^?]*)\?=")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_WHITESPACE_RUN = re.compile(r"[ \t\r\n]+")
_SURROGATES = re.compile("[\udc80-\udcff]")


def _unsurrogate(value: str, defects: list[str], hint: str | None = None) -> str:
    """Header strings from ``message_from_bytes`` carry raw 8-bit bytes as surrogates: decode them."""
    if not _SURROGATES.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    text, used = _decode_undeclared(data, hint)
    defects.append(f"undeclared 8-bit header text decoded as {used}")
    return text


def _decode_word_payload(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            compact = re.sub(r"\s+", "", payload).rstrip("=")
            if not _BASE64_TEXT.fullmatch(compact):
                return None
            return binascii.a2b_base64(compact + "=" * (-len(compact) % 4))
        return binascii.a2b_qp(payload.encode("utf-8", "surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        return None


def _flush_words(pending: list[tuple[str, bytes]], out: list[str], defects: list[str]) -> None:
    """Decode runs of adjacent encoded words with the same charset together (split characters)."""
    index = 0
    while index < len(pending):
        charset = pending[index][0]
        run: list[bytes] = []
        while index < len(pending) and pending[index][0] == charset:
            run.append(pending[index][1])
            index += 1
        out.append(decode_bytes(b"".join(run), charset.split("*", 1)[0], defects))
    pending.clear()


def decode_header_value(value: str, defects: list[str] | None = None, hint: str | None = None) -> str:
    """Unfold and RFC 2047-decode a raw header value (lenient: broken words stay literal).

    Raw 8-bit bytes (surrogate-escaped by the email package) are decoded as UTF-8, else as ``hint``.
    """
    notes: list[str] = [] if defects is None else defects
    text = _unsurrogate(_FOLDING.sub("", value), notes, hint)
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        position = match.end()
        data = _decode_word_payload(match.group(2), match.group(3))
        if data is None:
            _flush_words(pending, out, notes)
            out.append(gap + match.group(0))
            notes.append("undecodable encoded word left as is")
            continue
        if gap.strip(" \t\r\n"):
            _flush_words(pending, out, notes)
            out.append(gap)
        elif not pending and gap:
            out.append(gap)
        pending.append((match.group(1).lower(), data))
    _flush_words(pending, out, notes)
    out.append(text[position:])
    return "".join(out)


def _collapse(value: str) -> str:
    return _WHITESPACE_RUN.sub(" ", value).strip(" ")


@dataclass
class _Notes:
    """What the parse noticed (human-readable defects) and the charset to guess raw 8-bit bytes with."""

    defects: list[str] = field(default_factory=list)
    hint: str | None = None

    def header(self, value: str) -> str:
        return decode_header_value(value, self.defects, self.hint)


class _HeaderView:
    """Raw header values of one message by lower-cased name (first occurrence first)."""

    def __init__(self, message: Message, notes: _Notes) -> None:
        self._values: dict[str, list[str]] = {}
        self._notes = notes
        for name, value in message.raw_items():
            if isinstance(name, str) and isinstance(value, str):
                self._values.setdefault(name.strip().lower(), []).append(value)

    def raw(self, name: str) -> list[str]:
        return self._values.get(name, [])

    def first(self, name: str) -> str:
        values = self._values.get(name)
        return _collapse(self._notes.header(values[0])) if values else ""

    def joined(self, name: str) -> str:
        return ", ".join(_collapse(self._notes.header(value)) for value in self._values.get(name, []))

    def __len__(self) -> int:
        return len(self._values)


_LOOP_HEADERS = (
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "x-auto-reply",
    "x-autogenerated",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "x-auto-response-suppress",
    "return-path",
    "x-loop",
    "x-failed-recipients",
    "content-type",
    "x-service-desk-ticket",
    "delivered-to",
    "x-original-to",
    "x-mailer",
    "feedback-id",
    "x-ms-exchange-generated-message-source",
    "x-ms-exchange-inbox-rules-loop",
)


def _loop_headers(view: _HeaderView) -> Mapping[str, str]:
    """A plain dict (typed read-only) so a ParsedEmail pickles and copies."""
    return {name: view.joined(name) for name in _LOOP_HEADERS if view.raw(name)}


# --------------------------------------------------------------------------------------------------
# Message ids, addresses, dates

_MSGID_IN_BRACKETS = re.compile(r"<([^<>]*)>")
_ANY_WHITESPACE = re.compile(r"\s+")
_MAX_MSGID_KEY = 255


def normalize_msgid(value: str) -> str:
    """``"<id@host>"`` for a Message-ID-like value (brackets added, folding removed); "" for nothing."""
    if not value:
        return ""
    match = _MSGID_IN_BRACKETS.search(value)
    if match:
        inner = match.group(1)
    else:
        tokens = value.split()
        inner = tokens[0] if tokens else ""
    inner = _ANY_WHITESPACE.sub("", inner).strip("<>")
    return f"<{inner}>" if inner else ""


def _msgid_list(value: str) -> tuple[str, ...]:
    found = [normalize_msgid(f"<{inner}>") for inner in _MSGID_IN_BRACKETS.findall(value)]
    if not found:
        found = [normalize_msgid(token) for token in value.split() if "@" in token]
    return tuple(dict.fromkeys(msgid for msgid in found if msgid))


def dedupe_key(raw: bytes, message_id: str) -> str:
    """Stable key to recognise the same message twice: its Message-ID, else a hash of the bytes."""
    msgid = normalize_msgid(message_id)
    if msgid:
        key = f"mid:{msgid}"
        if len(key) <= _MAX_MSGID_KEY:
            return key
        return f"mid-sha256:{hashlib.sha256(msgid.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return f"sha256:{hashlib.sha256(bytes(raw)).hexdigest()}"


_BAD_ADDRESS_CHARS = re.compile(r"[<>\x00-\x1f\x7f]")


def _address(name: str, email: str, notes: _Notes) -> Address | None:
    email = email.strip().strip("<>").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or _BAD_ADDRESS_CHARS.search(email):
        return None
    return Address(name=_collapse(notes.header(name)).strip("\"' "), email=email)


def _addresses(raw_values: list[str], notes: _Notes) -> tuple[Address, ...]:
    """Addresses of address headers; names are decoded after splitting (an encoded comma stays a comma)."""
    if not raw_values:
        return ()
    values = [_unsurrogate(_FOLDING.sub("", value), notes.defects, notes.hint) for value in raw_values]
    found = (_address(name, email, notes) for name, email in getaddresses(values))
    return tuple(address for address in found if address is not None)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# Raw pre-checks (before the email package sees the bytes)

_HEADER_END = re.compile(rb"\n\r?\n")
# Matched against the lower-cased bytes (same offsets); the value is then read from the original.
_BOUNDARY_PARAM = re.compile(rb"""boundary\*?\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""")
# Messages larger than this are scanned without a lower-cased copy (``_scan_large``).
_LOWER_COPY_LIMIT = MB
_BOUNDARY_PARAM_ANY_CASE = re.compile(_BOUNDARY_PARAM.pattern, re.IGNORECASE)
_ENCLOSED_TYPES = (b"message/rfc822", b"message/global")  # the same length
_SCAN_WINDOW = MB
_SCAN_OVERLAP = len(_ENCLOSED_TYPES[0])
_HEADER_LINE = re.compile(rb"[!-9;-~]{1,76}[ \t]*:")
_LEADING_LINES = 5
_MAX_DELIMITER_LINE = 262


def _check_raw(raw: bytes, limits: _Limits) -> None:
    if not raw or raw.isspace():  # as ``not raw.strip()``, without copying the message
        raise EmailParseError("empty input")
    end = _HEADER_END.search(raw, 0, limits.header_bytes + 2)
    header_size = end.start() if end else len(raw)
    if header_size > limits.header_bytes:
        raise EmailParseError(f"header section larger than the {limits.header_bytes} byte limit")
    _check_part_count(raw, limits.parts)


def _declared_boundaries(raw: bytes, lowered: bytes, pattern: re.Pattern[bytes] = _BOUNDARY_PARAM) -> set[bytes]:
    found = set()
    for match in pattern.finditer(lowered):
        group = 1 if match.group(1) is not None else 2
        found.add(raw[match.start(group) : match.end(group)])
    return found


def _delimiter_lines(raw: bytes) -> Iterator[bytes]:
    """Every line that starts with "--", without the dashes and trailing whitespace (memchr-fast)."""
    position = raw.find(b"\n--")
    while position != -1:
        start = position + 3
        end = raw.find(b"\n", start, start + _MAX_DELIMITER_LINE)
        yield raw[start : end if end != -1 else start + _MAX_DELIMITER_LINE].rstrip(b" \t\r")
        position = raw.find(b"\n--", start)


def _scan_large(raw: bytes) -> tuple[set[bytes], int]:
    """What the small-message branch finds (declared boundaries, enclosed messages) without a lower-cased
    copy of the whole message: a window at a time, each overlapping the next by a pattern's length."""
    boundaries: set[bytes] = set()
    enclosed = 0
    matched_to = 0
    for start in range(0, len(raw), _SCAN_WINDOW):
        window = raw[start : start + _SCAN_WINDOW + _SCAN_OVERLAP].lower()
        # Occurrences that start in this window (those are entirely inside it; none overlaps itself).
        limit = _SCAN_WINDOW + len(_ENCLOSED_TYPES[0]) - 1
        enclosed += sum(window.count(name, 0, limit) for name in _ENCLOSED_TYPES)
        position = window.find(b"boundary")
        while position != -1 and position < _SCAN_WINDOW:
            # finditer would try here only if no earlier match covers it; the match reads the original.
            if start + position >= matched_to:
                match = _BOUNDARY_PARAM_ANY_CASE.match(raw, start + position)
                if match is not None:
                    group = 1 if match.group(1) is not None else 2
                    boundaries.add(match.group(group))
                    matched_to = match.end()
            position = window.find(b"boundary", position + 1)
    return boundaries, enclosed


def _check_part_count(raw: bytes, max_parts: int) -> None:
    """Count MIME delimiter lines of every declared boundary; stop as soon as there are too many."""
    if len(raw) > _LOWER_COPY_LIMIT:
        boundaries, enclosed = _scan_large(raw)
    else:
        lowered = raw.lower()
        boundaries = _declared_boundaries(raw, lowered)
        enclosed = lowered.count(b"message/rfc822") + lowered.count(b"message/global")
    if len(boundaries) > max_parts or enclosed > max_parts:
        raise EmailParseError("too many MIME parts")
    if not boundaries:
        return
    count = 0
    for line in _delimiter_lines(raw):
        if line in boundaries:
            count += 1
            if count > max_parts:
                raise EmailParseError("too many MIME parts")


def _skip_leading_junk(raw: bytes, notes: _Notes) -> bytes:
    """Drop a few non-header lines before the headers (e.g. "---- Original email message ----")."""
    if raw.startswith(b"From ") or _HEADER_LINE.match(raw):
        return raw
    position = 0
    for _ in range(_LEADING_LINES):
        newline = raw.find(b"\n", position, position + 1024)
        if newline == -1:
            return raw
        position = newline + 1
        if _HEADER_LINE.match(raw, position):
            skipped = raw[:position].count(b"\n")
            notes.defects.append(f"{skipped} line(s) before the headers skipped")
            return raw[position:]
    return raw


def _is_broken_header_line(line: bytes) -> bool:
    return bool(line.strip()) and line[:1] not in {b" ", b"\t"} and not _HEADER_LINE.match(line)


def _repair_folding(raw: bytes, notes: _Notes) -> bytes:
    """Header lines that lost their folding whitespace, followed by more headers, become continuations.

    Without this the email package ends the headers at the first such line and reads the rest as body.
    """
    end = _HEADER_END.search(raw)
    block_end = end.start() + 1 if end else len(raw)
    lines = raw[:block_end].split(b"\n")
    broken = {index for index, line in enumerate(lines) if index > 0 and _is_broken_header_line(line)}
    if not broken:
        return raw
    last_header = max((index for index, line in enumerate(lines) if _HEADER_LINE.match(line)), default=0)
    repaired = {index for index in broken if index < last_header}
    if not repaired:
        return raw
    notes.defects.append(f"{len(repaired)} header line(s) without folding whitespace joined to the previous header")
    fixed = [b" " + line if index in repaired else line for index, line in enumerate(lines)]
    return b"\n".join(fixed) + raw[block_end:]


# --------------------------------------------------------------------------------------------------
# Large base64 bodies, kept out of the email package

# A run of at least this many bytes of base64-alphabet lines is fed to the email package as one
# placeholder line. Those lines never hold a header (no colon), a boundary (no dash) or a blank
# line, so the placeholder, itself a base64-alphabet line, gives the same tree.
_RUN_MIN_BYTES = 64 * 1024
_RUN = re.compile(rb"^(?:[A-Za-z0-9+/=]++\r?\n)++", re.MULTILINE)
_FEED_BYTES = 64 * 1024
_DECODE_BYTES = MB  # any size: characters left over from a chunk carry over to the next
_CR_LF = b"\r\n"


class _Runs:
    """The runs cut out of ``data`` and the placeholders that stand for them in the parsed tree.

    A placeholder is ``<prefix><10 digits>`` plus the run's last line ending; the prefix occurs
    nowhere in ``data`` and starts with a letter found nowhere else in it, so a placeholder cannot
    be confused with text around it.
    """

    def __init__(self, data: bytes, spans: list[tuple[int, int]]) -> None:
        self.data = data
        self.spans = spans
        prefix = "Qsdrun"
        number = 0
        while (prefix + f"{number}x").encode() in data:
            number += 1
        self.prefix = f"{prefix}{number}x"
        self.placeholder = re.compile(re.escape(self.prefix) + r"(\d{10})(\r\n|\n)?")

    @classmethod
    def find(cls, data: bytes) -> _Runs:
        spans = []
        if len(data) >= _RUN_MIN_BYTES:
            spans = [match.span() for match in _RUN.finditer(data) if match.end() - match.start() >= _RUN_MIN_BYTES]
        return cls(data, spans)

    def line(self, index: int) -> bytes:
        """The placeholder line fed in place of run ``index`` (ending as the run's last line does)."""
        start, end = self.spans[index]
        ending = "\r\n" if self.data[end - 2 : end] == _CR_LF else "\n"
        return f"{self.prefix}{index:010d}{ending}".encode("ascii")

    def feed(self, parser: BytesFeedParser) -> None:
        position = 0
        for index, (start, end) in enumerate(self.spans):
            self._feed_range(parser, position, start)
            parser.feed(self.line(index))
            position = end
        self._feed_range(parser, position, len(self.data))

    def _feed_range(self, parser: BytesFeedParser, start: int, end: int) -> None:
        view = memoryview(self.data)
        for offset in range(start, end, _FEED_BYTES):
            parser.feed(bytes(view[offset : min(offset + _FEED_BYTES, end)]))

    def within(self, text: object) -> bool:
        return bool(self.spans) and isinstance(text, str) and self.prefix in text

    def _run(self, match: re.Match[str]) -> tuple[int, int]:
        """The bytes a placeholder stands for; its line ending is dropped where the parser dropped it."""
        start, end = self.spans[int(match.group(1))]
        if match.group(2) is None:
            end -= 2 if self.data[end - 2 : end] == _CR_LF else 1
        return start, end

    def expand(self, text: str) -> str:
        """``text`` as the email package would have held it (a copy of the runs in it)."""
        return self.placeholder.sub(lambda m: self.data[slice(*self._run(m))].decode("ascii"), text)

    def restore(self, message: Message) -> None:
        """Put the original text back into a part and everything in it (before it is generated again)."""
        if not self.spans:
            return
        for part in _iter_parts(message):
            payload = part._payload  # the payload as parsed, without get_payload's decoding
            if self.within(payload):
                part.set_payload(self.expand(payload))
            for name in ("preamble", "epilogue"):
                value = getattr(part, name, None)
                if self.within(value):
                    setattr(part, name, self.expand(value))

    def prepare(self, part: Message) -> None:
        """A leaf keeps its placeholders only where they are decoded here: plain base64 text."""
        payload = part._payload
        if self.within(payload) and (not _is_base64(part) or _SURROGATES.search(payload)):
            part.set_payload(self.expand(payload))

    def significant_chars(self, text: str) -> int:
        """Characters of ``text`` (expanded) other than CR, LF and space."""
        count = len(text) - text.count("\n") - text.count("\r") - text.count(" ")
        for match in self.placeholder.finditer(text):
            start, end = self.spans[int(match.group(1))]
            count -= len(match.group(0)) - len(match.group(2) or "")  # the placeholder without its line ending
            count += end - start - self.data.count(b"\n", start, end) - self.data.count(b"\r", start, end)
        return count

    def decode_base64(self, text: str) -> bytes | None:
        """What ``get_payload(decode=True)`` returns for valid base64 with placeholders; None otherwise.

        Decoded a chunk at a time in strict mode, so a run is never copied whole; anything that is not
        plain valid base64 (bad padding, stray characters) is None and decoded by the email package.
        """
        if not text.isascii():
            return None
        sink = _Base64Sink()
        position = 0
        for match in self.placeholder.finditer(text):
            sink.feed(text[position : match.start()].encode("ascii"))
            start, end = self._run(match)
            view = memoryview(self.data)
            for offset in range(start, end, _DECODE_BYTES):
                sink.feed(bytes(view[offset : min(offset + _DECODE_BYTES, end)]))
            position = match.end()
        sink.feed(text[position:].encode("ascii"))
        return sink.result()


class _Base64Sink:
    """Strict base64 decoding of text that arrives in pieces (line endings ignored, as the email package does)."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.carry = b""
        self.padded = False
        self.valid = True

    def feed(self, piece: bytes) -> None:
        piece = piece.translate(None, _CR_LF)
        if not piece or not self.valid:
            return
        if self.padded:  # data after the padding: not strictly valid
            self.valid = False
            return
        piece = self.carry + piece if self.carry else piece
        cut = len(piece) - len(piece) % 4
        self.carry = piece[cut:]
        quanta = piece[:cut]
        self.padded = b"=" in quanta
        try:
            self.out.write(binascii.a2b_base64(quanta, strict_mode=True))
        except binascii.Error:
            self.valid = False

    def result(self) -> bytes | None:
        if not self.valid or self.carry:
            return None
        return self.out.getvalue()


def _is_base64(part: Message) -> bool:
    """The test ``Message.get_payload(decode=True)`` makes (not stripped)."""
    return str(part.get("content-transfer-encoding", "")).lower() == "base64"


# --------------------------------------------------------------------------------------------------
# MIME walk

_BODY_TYPES = frozenset({"text/plain", "text/html"})
_GENERATED_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/rfc822-headers": ".txt",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "application/pdf": ".pdf",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
}
_CID_REFERENCE = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_DELIVERY_REPORT = "delivery-status"
_LOOKUP_ERRORS = (ValueError, TypeError, AttributeError, IndexError, LookupError, UnicodeError, MessageError)


@dataclass
class _Segment:
    """One piece of body in reading order; an alternative carries both renderings."""

    plain: str | None
    html: str | None


@dataclass
class _RawAttachment:
    filename: str
    content: bytes
    declared_type: str
    content_id: str
    disposition: str


@dataclass
class _Walk:
    limits: _Limits
    notes: _Notes
    attachments: list[_RawAttachment] = field(default_factory=list)
    skipped: list[SkippedPart] = field(default_factory=list)
    enclosed_message_ids: list[str] = field(default_factory=list)
    delivery_status: bool = False
    parts: int = 0
    numbered: int = 0
    linesep: str = "\n"
    runs: _Runs = field(default_factory=lambda: _Runs(b"", []))


def _payload(part: Message) -> str | list[Message] | None:
    """The undecoded payload: the list of sub-parts, or the encoded text (None if unreadable)."""
    try:
        payload = part.get_payload()
    except _LOOKUP_ERRORS:
        return None
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, Message)]
    return payload if isinstance(payload, str) else None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except _LOOKUP_ERRORS:
        return "text/plain"


def _mime_headers(part: Message, notes: _Notes) -> Message:
    """``part`` itself, or a copy of its Content-Type/-Disposition with raw 8-bit bytes decoded."""
    raw = [(name, value) for name, value in part.raw_items() if name.lower() in _MIME_PARAM_HEADERS]
    if not any(isinstance(value, str) and _SURROGATES.search(value) for _name, value in raw):
        return part
    shadow = Message()
    for name, value in raw:
        shadow[name] = _unsurrogate(value, notes.defects, notes.hint) if isinstance(value, str) else ""
    return shadow


_MIME_PARAM_HEADERS = frozenset({"content-type", "content-disposition"})


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
        if value is None or isinstance(value, bool):
            return ""
        return str(collapse_rfc2231_value(value, errors="replace"))
    except _LOOKUP_ERRORS:
        return ""


def _disposition(part: Message) -> str:
    value = part.get("content-disposition")
    if not isinstance(value, str):
        return ""
    return value.split(";", 1)[0].strip().lower()


def _filename(part: Message, notes: _Notes) -> str:
    headers = _mime_headers(part, notes)
    try:
        raw = headers.get_filename() or ""
    except _LOOKUP_ERRORS:
        raw = ""
    if not raw:
        raw = _param(headers, "name")
    return notes.header(raw).strip() if raw else ""


def _content_id(part: Message, notes: _Notes) -> str:
    value = part.get("content-id")
    if not isinstance(value, str):
        return ""
    return _collapse(notes.header(value)).strip().strip("<>").strip()


def _estimated_size(part: Message, runs: _Runs) -> int:
    """Decoded size of a leaf part without decoding it (exact enough to enforce a limit)."""
    payload = _payload(part)
    if not isinstance(payload, str):
        return 0
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        return runs.significant_chars(payload) * 3 // 4
    return len(payload)


def _leaf_bytes(part: Message, runs: _Runs) -> bytes:
    payload = part._payload  # placeholders are in the payload as parsed
    if runs.within(payload):
        decoded = runs.decode_base64(payload)
        if decoded is not None:
            return decoded
        runs.restore(part)  # not plain valid base64: the email package decides, as it always did
    try:
        data = part.get_payload(decode=True)
    except (*_LOOKUP_ERRORS, binascii.Error):
        data = None
    if isinstance(data, bytes):
        return data
    payload = _payload(part)
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _message_bytes(message: Message, linesep: str, runs: _Runs) -> bytes:
    """An enclosed message as bytes again (headers are not refolded; the outer line ending is used)."""
    runs.restore(message)
    buffer = io.BytesIO()
    policy = compat32.clone(linesep=linesep, max_line_length=None)
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(message)
    except _LOOKUP_ERRORS:
        return b""
    return buffer.getvalue()


def _size_label(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB and limit % MB == 0 else f"{limit} bytes"


def _generated_name(walk: _Walk, declared_type: str) -> str:
    walk.numbered += 1
    extension = _GENERATED_EXTENSIONS.get(declared_type, ".bin")
    stem = "image" if declared_type.startswith("image/") else "attachment"
    return f"{stem}-{walk.numbered}{extension}"


def _over_limit(walk: _Walk, filename: str, size: int) -> bool:
    limit = walk.limits.attachment_bytes
    if size <= limit:
        return False
    walk.skipped.append(SkippedPart(filename, size, f"larger than {_size_label(limit)} limit"))
    return True


def _keep(walk: _Walk, part: Message, filename: str, content: bytes, declared_type: str) -> None:
    if _over_limit(walk, filename, len(content)):
        return
    content_id = _content_id(part, walk.notes)
    walk.attachments.append(_RawAttachment(filename, content, declared_type, content_id, _disposition(part)))


def _attach(walk: _Walk, part: Message, declared_type: str) -> None:
    filename = _filename(part, walk.notes) or _generated_name(walk, declared_type)
    if _over_limit(walk, filename, _estimated_size(part, walk.runs)):
        return
    content = _leaf_bytes(part, walk.runs)
    if declared_type == "text/rfc822-headers":
        _note_enclosed_headers(walk, content)
    _keep(walk, part, filename, content, declared_type)


def _note_enclosed_headers(walk: _Walk, content: bytes) -> None:
    headers = message_from_string(content.decode("utf-8", "replace"), policy=compat32)
    msgid = headers.get("message-id")
    if isinstance(msgid, str) and normalize_msgid(msgid):
        walk.enclosed_message_ids.append(normalize_msgid(msgid))


def _message_name(enclosed: Message | None, notes: _Notes) -> str:
    subject = enclosed.get("subject") if enclosed is not None else None
    if isinstance(subject, str):
        subject = _collapse(notes.header(subject))
        if subject:
            return f"{subject[:150]}.eml"
    return "forwarded-message.eml"


def _attach_message(walk: _Walk, part: Message, declared_type: str) -> None:
    payload = _payload(part)
    enclosed = payload if isinstance(payload, list) else []
    if declared_type in {"message/rfc822", "message/global"}:
        first = enclosed[0] if enclosed else None
        filename = _filename(part, walk.notes) or _message_name(first, walk.notes)
        content = _message_bytes(first, walk.linesep, walk.runs) if first is not None else _leaf_bytes(part, walk.runs)
        msgid = first.get("message-id") if first is not None else None
        if isinstance(msgid, str) and normalize_msgid(msgid):
            walk.enclosed_message_ids.append(normalize_msgid(msgid))
        if not content.strip():
            return
    else:
        walk.delivery_status = walk.delivery_status or declared_type == f"message/{_DELIVERY_REPORT}"
        filename = _filename(part, walk.notes) or _generated_name(walk, declared_type)
        content = (
            b"".join(_message_bytes(item, walk.linesep, walk.runs) for item in enclosed)
            if enclosed
            else _leaf_bytes(part, walk.runs)
        )
    _keep(walk, part, filename, content, declared_type)


def _is_body(part: Message, declared_type: str, depth: int, walk: _Walk) -> bool:
    if declared_type not in _BODY_TYPES or _disposition(part) == "attachment":
        return False
    if depth > 0 and _filename(part, _Notes()):
        return False
    return _estimated_size(part, walk.runs) <= walk.limits.attachment_bytes


def _body_segment(walk: _Walk, part: Message, declared_type: str) -> _Segment:
    charset = _param(part, "charset") or None
    text = decode_bytes(_leaf_bytes(part, walk.runs), charset, walk.notes.defects, walk.notes.hint)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _Segment(plain=None, html=text) if declared_type == "text/html" else _Segment(plain=text, html=None)


def _walk(walk: _Walk, part: Message, depth: int) -> list[_Segment]:
    walk.parts += 1
    if walk.parts > walk.limits.parts:
        raise EmailParseError("too many MIME parts")
    if depth > walk.limits.depth:
        raise EmailParseError("MIME nesting too deep")
    declared_type = _content_type(part)
    payload = _payload(part) if part.is_multipart() else None
    if isinstance(payload, list):
        return _walk_container(walk, part, declared_type, payload, depth)
    walk.runs.prepare(part)
    if declared_type.startswith("multipart/"):
        walk.notes.defects.append(f"{declared_type} part without parts; read as text")
        declared_type = "text/plain"
    if _is_body(part, declared_type, depth, walk):
        return [_body_segment(walk, part, declared_type)]
    if declared_type.startswith("message/"):
        _attach_message(walk, part, declared_type)
    else:
        _attach(walk, part, declared_type)
    return []


def _walk_container(
    walk: _Walk, part: Message, declared_type: str, children: list[Message], depth: int
) -> list[_Segment]:
    if declared_type.startswith("message/"):
        _attach_message(walk, part, declared_type)
        return []
    if declared_type == "multipart/alternative":
        return _alternative(walk, children, depth)
    if declared_type == "multipart/report" and _param(part, "report-type").lower() == _DELIVERY_REPORT:
        walk.delivery_status = True
    return [segment for child in children for segment in _walk(walk, child, depth + 1)]


def _alternative(walk: _Walk, children: list[Message], depth: int) -> list[_Segment]:
    options = [segments for child in children if (segments := _walk(walk, child, depth + 1))]
    if not options:
        return []
    html_option = next((option for option in reversed(options) if any(s.html is not None for s in option)), None)
    html = _join_html(html_option) if html_option is not None else None
    pure_text = [_join_plain(option) for option in options if all(s.plain is not None for s in option)]
    plain = next((text for text in pure_text if text.strip()), None)
    if plain is None:  # no text/plain alternative, or an empty one: the text comes from the HTML
        plain = next((text for text in map(_join_plain, options) if text.strip()), "")
    return [_Segment(plain=plain, html=html)]


def _plain_of(segment: _Segment) -> str:
    if segment.plain is not None:
        return segment.plain
    return html_to_text(segment.html or "")


def _html_of(segment: _Segment) -> str:
    if segment.html is not None:
        return segment.html
    escaped = html_lib.escape(segment.plain or "").replace("\n", "<br>\n")
    return f"<div>{escaped}</div>"


def _join_plain(segments: Iterable[_Segment]) -> str:
    texts = [_plain_of(segment).strip("\n") for segment in segments]
    return "\n\n".join(text for text in texts if text.strip())


def _join_html(segments: Iterable[_Segment]) -> str:
    return "\n".join(_html_of(segment) for segment in segments)


# --------------------------------------------------------------------------------------------------
# Bounces

_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|delivery (?:failure|failed|has failed|problem)"
    r"|mail delivery (?:failed|failure|system|subsystem)|returned mail|failure notice|could not be delivered"
    r"|nicht zustellbar|unzustellbar|zustellung fehlgeschlagen|non remis|non recapitabile",
    re.IGNORECASE,
)
_MESSAGE_ID_LINE = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def _is_bounce(walk: _Walk, view: _HeaderView, sender: Address | None, subject: str) -> bool:
    if walk.delivery_status or view.raw("x-failed-recipients"):
        return True
    from_daemon = sender is not None and sender.email.split("@", 1)[0] in _DAEMON_LOCAL_PARTS
    empty_return_path = view.first("return-path").replace(" ", "") == "<>"
    return (from_daemon or empty_return_path) and bool(_BOUNCE_SUBJECT.search(subject))


def _bounced_message_id(walk: _Walk, text: str, own_id: str) -> str:
    for msgid in walk.enclosed_message_ids:
        if msgid and msgid != own_id:
            return msgid
    for match in _MESSAGE_ID_LINE.finditer(text):
        msgid = normalize_msgid(match.group(1))
        if msgid and msgid != own_id:
            return msgid
    return ""


# --------------------------------------------------------------------------------------------------
# Assembly

_MAX_DEFECTS = 50


def _defect_text(defect: object) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    return "MIME: " + re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _iter_parts(message: Message) -> Iterator[Message]:
    stack = [message]
    while stack:
        part = stack.pop()
        yield part
        payload = _payload(part) if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed(payload))


def _collect_defects(message: Message, notes: _Notes) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for part in _iter_parts(message):
        for defect in getattr(part, "defects", ()):
            found.setdefault(_defect_text(defect), None)
    for note in notes.defects:
        found.setdefault(note, None)
    return tuple(found)[:_MAX_DEFECTS]


def _charset_hint(message: Message) -> str | None:
    """The first useful charset the message declares (for raw 8-bit header bytes)."""
    for part in _iter_parts(message):
        charset = _param(part, "charset").lower()
        codec = _codec_name(charset) if charset else None
        if codec is not None and codec not in {"ascii", "utf-8"}:
            return charset
    return None


def _finish_attachments(raw: list[_RawAttachment], html: str) -> tuple[ParsedAttachment, ...]:
    referenced = {unquote(cid).strip().lower() for cid in _CID_REFERENCE.findall(html)}
    return tuple(
        ParsedAttachment(
            filename=item.filename,
            content=item.content,
            declared_type=item.declared_type,
            content_id=item.content_id,
            is_inline=(bool(item.content_id) and item.content_id.lower() in referenced)
            or (item.disposition == "inline" and item.declared_type.startswith("image/")),
        )
        for item in raw
    )


def _read(raw: bytes, limits: _Limits, notes: _Notes) -> tuple[Message, _Runs]:
    """The message tree, as ``email.message_from_bytes(..., policy=compat32)`` builds it, but with
    long base64 runs left in ``raw`` (placeholders in the tree)."""
    _check_raw(raw, limits)
    runs = _Runs.find(_repair_folding(_skip_leading_junk(raw, notes), notes))
    parser = BytesFeedParser(policy=compat32)
    try:
        runs.feed(parser)
        message = parser.close()
    except RecursionError:
        raise EmailParseError("MIME nesting too deep") from None
    notes.hint = _charset_hint(message)
    return message, runs


def _parse(raw: bytes, limits: _Limits) -> ParsedEmail:
    notes = _Notes()
    message, runs = _read(raw, limits, notes)
    view = _HeaderView(message, notes)
    if not len(view):
        raise EmailParseError("no headers found")
    walk = _Walk(limits=limits, notes=notes, linesep="\r\n" if b"\r\n" in raw[:4096] else "\n", runs=runs)
    segments = _walk(walk, message, 0)
    text = _join_plain(segments)
    raw_html = _join_html(segments) if any(segment.html is not None for segment in segments) else ""
    senders = _addresses(view.raw("from"), notes)
    subject = view.first("subject")
    message_id = normalize_msgid(view.first("message-id"))
    is_bounce = _is_bounce(walk, view, senders[0] if senders else None, subject)
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=next(iter(_msgid_list(view.first("in-reply-to"))), ""),
        references=_msgid_list(view.joined("references")),
        subject=subject,
        sender=senders[0] if senders else None,
        reply_to=_addresses(view.raw("reply-to"), notes),
        to=_addresses(view.raw("to"), notes),
        cc=_addresses(view.raw("cc"), notes),
        date=_date(view.first("date")),
        text=text,
        html=sanitize_html(raw_html) if raw_html else "",
        attachments=_finish_attachments(walk.attachments, raw_html),
        skipped=tuple(walk.skipped),
        headers=_loop_headers(view),
        is_bounce=is_bounce,
        bounced_message_id=_bounced_message_id(walk, text, message_id) if is_bounce else "",
        defects=_collect_defects(message, notes),
    )


def parse_email(
    raw: bytes,
    *,
    max_attachment_bytes: int = 25 * MB,
    max_parts: int = 500,
    max_header_bytes: int = 64 * 1024,
    max_depth: int = 20,
) -> ParsedEmail:
    """Parse raw message bytes; raises only ``EmailParseError``, whatever the input."""
    limits = _Limits(max_attachment_bytes, max_parts, max_header_bytes, max_depth)
    try:
        return _parse(bytes(raw), limits)
    except EmailParseError:
        raise
    except RecursionError:
        raise EmailParseError("MIME nesting too deep") from None
    except Exception as exc:  # the contract: callers handle exactly one exception type
        raise EmailParseError(f"internal error while parsing ({type(exc).__name__}: {exc})") from exc
