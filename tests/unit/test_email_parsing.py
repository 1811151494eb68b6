"""Raw bytes -> ParsedEmail: headers, charsets, MIME structure, attachments, limits and robustness."""

import base64
import pickle
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_intake.email.html import html_to_text, sanitize_html
from channels_intake.email.parsing import (
    Address,
    EmailParseError,
    ParsedEmail,
    dedupe_key,
    normalize_msgid,
    parse_email,
)

MAIL_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mail"
MB = 1024 * 1024


def mail(headers: str, body: bytes | str = b"Hello\r\n") -> bytes:
    """A message from header lines (\\n-separated, CRLF added) and a body."""
    head = "\r\n".join(line for line in headers.strip("\n").split("\n")).encode("utf-8")
    payload = body.encode("utf-8") if isinstance(body, str) else body
    return head + b"\r\n\r\n" + payload


BASIC = "From: Ann Example <Ann@Example.COM>\nTo: support@desk.example\nSubject: Hi\nMessage-ID: <basic@example.com>"


def multipart(boundary: str, parts: list[bytes], subtype: str = "mixed", extra_headers: str = BASIC) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return mail(f'{extra_headers}\nMIME-Version: 1.0\nContent-Type: multipart/{subtype}; boundary="{boundary}"', body)


def part(headers: str, body: bytes | str) -> bytes:
    return mail(headers, body)


# --- headers -------------------------------------------------------------------------------------------


def test_basic_headers_are_read_and_addresses_lower_cased():
    raw = mail(
        "From: Ann Example <Ann@Example.COM>\n"
        'To: support@desk.example, "Doe, John" <JOHN@doe.example>\n'
        "Cc: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>, undisclosed-recipients:;\n"
        "Reply-To: <replies@example.com>\n"
        "Subject: Printer on fire\n"
        "Date: Tue, 01 Apr 2025 10:15:00 +0200\n"
        "Message-ID: <abc.123@mail.example.com>\n"
        "In-Reply-To: <parent@desk.example> (comment)\n"
        "References: <root@desk.example>\n <parent@desk.example>"
    )
    parsed = parse_email(raw)
    assert parsed.sender == Address(name="Ann Example", email="ann@example.com")
    assert parsed.to == (Address("", "support@desk.example"), Address("Doe, John", "john@doe.example"))
    assert parsed.cc == (Address("Jürgen Müller", "jm@example.de"),)
    assert parsed.reply_to == (Address("", "replies@example.com"),)
    assert parsed.subject == "Printer on fire"
    assert parsed.date == datetime(2025, 4, 1, 8, 15, tzinfo=UTC)
    assert parsed.date.utcoffset() == timedelta(hours=2)
    assert parsed.message_id == "<abc.123@mail.example.com>"
    assert parsed.in_reply_to == "<parent@desk.example>"
    assert parsed.references == ("<root@desk.example>", "<parent@desk.example>")
    assert parsed.text == "Hello"
    assert parsed.html == ""
    assert not parsed.is_bounce


def test_parsed_email_pickles_and_compares():
    parsed = parse_email(nested_message())
    assert pickle.loads(pickle.dumps(parsed)) == parsed  # noqa: S301 - our own bytes


def test_rfc2047_subject_is_decoded_and_whitespace_collapsed():
    raw = mail("From: a@example.com\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus?=\n =?utf-8?B?IEvDtmxu?=\n\t und   mehr\n")
    assert parse_email(raw).subject == "Grüße aus Köln und mehr"


def test_encoded_words_split_inside_a_character_are_joined_before_decoding():
    euro = "€".encode()  # three bytes, split over two words
    first = base64.b64encode(b"Preis " + euro[:2]).decode()
    second = base64.b64encode(euro[2:] + b" 10").decode()
    raw = mail(f"From: a@example.com\nSubject: =?utf-8?b?{first}?= =?utf-8?b?{second}?=")
    assert parse_email(raw).subject == "Preis € 10"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?x-klingon?q?qapla=27?=", "qapla'"),
        ("=?iso-8859-1?q?caf=E9?= ok", "café ok"),
        ("=?utf-8*de?q?Stra=C3=9Fe?=", "Straße"),
        ("=?utf-8?b?not base64 at all!?=", "=?utf-8?b?not base64 at all!?="),
        ("=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"),
    ],
)
def test_broken_encoded_words_never_raise(header, expected):
    assert parse_email(mail(f"From: a@example.com\nSubject: {header}")).subject == expected


def test_undeclared_8bit_header_is_decoded_as_utf8_or_windows_1252():
    utf8 = mail("From: a@example.com\nSubject: Grüße", b"x")
    latin = mail("From: a@example.com", b"x").replace(b"\r\n\r\n", "\r\nSubject: Grüße\r\n\r\n".encode("cp1252"))
    assert parse_email(utf8).subject == "Grüße"
    assert parse_email(latin).subject == "Grüße"
    assert any("windows-1252" in defect for defect in parse_email(latin).defects)


def test_unusable_addresses_are_skipped_and_missing_from_gives_no_sender():
    parsed = parse_email(mail("To: not an address, <>, ok@example.com\nSubject: x"))
    assert parsed.sender is None
    assert parsed.to == (Address("", "ok@example.com"),)


def test_first_parseable_from_is_the_sender():
    parsed = parse_email(mail("From: [??????]\nFrom: Real <real@example.com>\nSubject: x"))
    assert parsed.sender == Address("Real", "real@example.com")


def test_encoded_word_inside_an_address_is_not_decoded_into_another_address():
    parsed = parse_email(mail("From: =?utf-8?Q?attacker?=@victim.example\nSubject: x"))
    assert parsed.sender is not None
    assert parsed.sender.email == "=?utf-8?q?attacker?=@victim.example"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 3 Mar 2025 08:00:00 -0000", datetime(2025, 3, 3, 8, tzinfo=UTC)),
        ("3 Mar 2025 08:00:00 +0530", datetime(2025, 3, 3, 8, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
        ("yesterday-ish", None),
        ("Mon, 99 Foo 99999 99:99:99 +9999", None),
        ("", None),
    ],
)
def test_date_is_aware_or_none(value, expected):
    parsed = parse_email(mail(f"From: a@example.com\nDate: {value}"))
    assert parsed.date == expected
    assert parsed.date is None or parsed.date.tzinfo is not None


def test_loop_relevant_headers_are_exposed_lower_cased():
    raw = mail(
        "From: a@example.com\nAuto-Submitted: auto-replied\nX-Autoreply: yes\nPrecedence: bulk\n"
        "List-Id: <news.example.com>\nX-Loop: support@desk.example\nX-Service-Desk-Ticket: SD-7\n"
        "Return-Path: <>\nX-Unrelated: nope"
    )
    headers = parse_email(raw).headers
    assert headers["auto-submitted"] == "auto-replied"
    assert headers["x-autoreply"] == "yes"
    assert headers["precedence"] == "bulk"
    assert headers["list-id"] == "<news.example.com>"
    assert headers["x-loop"] == "support@desk.example"
    assert headers["x-service-desk-ticket"] == "SD-7"
    assert headers["return-path"] == "<>"
    assert "x-unrelated" not in headers


# --- message ids and dedupe -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b>", "<a@b>"),
        ("  <a@b>  ", "<a@b>"),
        ("a@b", "<a@b>"),
        ("<a\r\n @b>", "<a@b>"),
        ("<a@b> <c@d>", "<a@b>"),
        ("", ""),
        ("<>", ""),
        ("   ", ""),
    ],
)
def test_normalize_msgid(value, expected):
    assert normalize_msgid(value) == expected


def test_dedupe_key_is_stable_and_distinct():
    raw = mail(BASIC)
    assert dedupe_key(raw, "<basic@example.com>") == "mid:<basic@example.com>"
    assert dedupe_key(raw, "basic@example.com") == dedupe_key(raw + b"changed", " <basic@example.com> ")
    assert dedupe_key(raw, "<other@example.com>") != dedupe_key(raw, "<basic@example.com>")
    no_id = dedupe_key(raw, "")
    assert no_id.startswith("sha256:")
    assert no_id == dedupe_key(raw, "")
    assert no_id != dedupe_key(raw + b" ", "")


def test_dedupe_key_hashes_very_long_message_ids():
    key = dedupe_key(b"x", "<" + "a" * 400 + "@example.com>")
    assert key.startswith("mid-sha256:")
    assert len(key) <= 255
    assert key == dedupe_key(b"y", "<" + "a" * 400 + "@example.com>")


# --- charsets --------------------------------------------------------------------------------------------


def test_undeclared_8bit_body_falls_back_to_windows_1252():
    parsed = parse_email(mail("From: a@example.com\nSubject: x", "Grüße – Ihr Team".encode("cp1252")))
    assert parsed.text == "Grüße – Ihr Team"
    assert "undeclared 8-bit text decoded as windows-1252" in parsed.defects


def test_undeclared_8bit_utf8_body_is_read_as_utf8():
    parsed = parse_email(mail("From: a@example.com", "Grüße 😀".encode()))
    assert parsed.text == "Grüße 😀"


@pytest.mark.parametrize("declared", ["us-ascii", "iso-8859-1", "ISO-8859-15", "windows-1252"])
def test_utf8_declared_as_a_latin_charset_is_detected(declared):
    raw = mail(f"From: a@example.com\nContent-Type: text/plain; charset={declared}", "Grüße 👋".encode())
    parsed = parse_email(raw)
    assert parsed.text == "Grüße 👋"
    assert any("decoded as utf-8" in defect for defect in parsed.defects)


def test_latin1_text_declared_as_latin1_stays_latin1():
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=iso-8859-1", "Café".encode("latin-1"))
    assert parse_email(raw).text == "Café"


def test_unknown_charset_falls_back_with_a_defect():
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=x-no-such-charset", "Grüße".encode())
    parsed = parse_email(raw)
    assert parsed.text == "Grüße"
    assert any("unknown charset 'x-no-such-charset'" in defect for defect in parsed.defects)


@pytest.mark.parametrize("charset", ["zlib", "base64", "rot13", "punycode", "undefined"])
def test_non_text_codecs_are_never_used_as_charsets(charset):
    raw = mail(f"From: a@example.com\nContent-Type: text/plain; charset={charset}", b"eJzLSM3JyQcABiwCFQ==")
    assert parse_email(raw).text == "eJzLSM3JyQcABiwCFQ=="


def test_wrong_multibyte_charset_falls_back_to_utf8():
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=shift_jis", "naïve – ok".encode())
    assert parse_email(raw).text == "naïve – ok"


def test_gb2312_is_read_as_its_gb18030_superset():
    text = "转发：整体提升 𠀀"
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=gb2312", text.encode("gb18030"))
    assert parse_email(raw).text == text


def test_iso_2022_jp_with_microsoft_extensions_is_decoded():
    body = b"\x1b$B-!#1ET#38)\x1b(B"  # "①１都３県" with NEC row 13 (CP50220)
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=ISO-2022-JP", body)
    assert parse_email(raw).text == "①１都３県"


def test_undeclared_iso_2022_jp_is_recognised_by_its_escapes():
    body = "テストメールです".encode("iso2022_jp")
    assert parse_email(mail("From: a@example.com\nContent-Type: text/plain", body)).text == "テストメールです"


def test_raw_8bit_header_uses_the_charset_the_message_declares():
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=koi8-r", "Привет".encode("koi8-r"))
    raw = raw.replace(b"\r\n\r\n", b"\r\nSubject: " + "Привет".encode("koi8-r") + b"\r\n\r\n", 1)
    parsed = parse_email(raw)
    assert parsed.subject == "Привет"
    assert parsed.text == "Привет"


# --- MIME structure ----------------------------------------------------------------------------------------


def test_multipart_alternative_gives_plain_text_and_sanitised_html():
    raw = multipart(
        "alt",
        [
            part("Content-Type: text/plain; charset=utf-8", "Plain version"),
            part(
                "Content-Type: text/html; charset=utf-8",
                "<html><body><p onclick='x()'>HTML <b>version</b></p><script>evil()</script></body></html>",
            ),
        ],
        subtype="alternative",
    )
    parsed = parse_email(raw)
    assert parsed.text == "Plain version"
    assert parsed.html == "<p>HTML <b>version</b></p>"
    assert parsed.attachments == ()


def test_empty_plain_alternative_gives_way_to_the_html_text():
    raw = multipart(
        "alt",
        [part("Content-Type: text/plain", "\r\n"), part("Content-Type: text/html", "<p>Real content</p>")],
        subtype="alternative",
    )
    parsed = parse_email(raw)
    assert parsed.text == "Real content"
    assert parsed.html == "<p>Real content</p>"


def test_html_only_mail_gets_text_derived_from_html():
    raw = mail(
        "From: a@example.com\nContent-Type: text/html; charset=utf-8",
        "<p>Hello <a href='https://example.com/x'>there</a></p><ul><li>one</li></ul>",
    )
    parsed = parse_email(raw)
    assert parsed.text == "Hello there (https://example.com/x)\n\n- one"
    assert 'rel="noopener noreferrer nofollow"' in parsed.html


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def nested_message() -> bytes:
    related = multipart(
        "rel",
        [
            part("Content-Type: text/html; charset=utf-8", '<p>Logo: <img src="cid:logo@x"></p>'),
            part(
                "Content-Type: image/png; name=logo.png\nContent-Transfer-Encoding: base64\nContent-ID: <logo@x>",
                base64.encodebytes(PNG),
            ),
        ],
        subtype="related",
        extra_headers="X-Part: related",
    )
    alternative = multipart(
        "alt",
        [part("Content-Type: text/plain; charset=utf-8", "Logo: [logo]"), related.split(b"\r\n", 1)[1]],
        subtype="alternative",
        extra_headers="X-Part: alternative",
    )
    pdf = part(
        'Content-Type: application/pdf; name="offer.pdf"\nContent-Disposition: attachment; filename="offer.pdf"\n'
        "Content-Transfer-Encoding: base64",
        base64.encodebytes(b"%PDF-1.4 fake"),
    )
    return multipart("mix", [alternative.split(b"\r\n", 1)[1], pdf])


def test_nested_mixed_alternative_related_with_inline_cid_image():
    parsed = parse_email(nested_message())
    assert parsed.text == "Logo: [logo]"
    assert parsed.html == '<p>Logo: <img src="cid:logo@x"></p>'
    image, pdf = parsed.attachments
    assert (image.filename, image.content, image.declared_type) == ("logo.png", PNG, "image/png")
    assert (image.content_id, image.is_inline) == ("logo@x", True)
    assert (pdf.filename, pdf.content, pdf.declared_type) == ("offer.pdf", b"%PDF-1.4 fake", "application/pdf")
    assert (pdf.content_id, pdf.is_inline) == ("", False)


def test_inline_image_without_cid_reference_is_inline_by_disposition():
    raw = multipart(
        "m",
        [
            part("Content-Type: text/plain", "see picture"),
            part(
                "Content-Type: image/jpeg\nContent-Disposition: inline\nContent-Transfer-Encoding: base64",
                base64.encodebytes(b"\xff\xd8\xff jpeg"),
            ),
        ],
    )
    (image,) = parse_email(raw).attachments
    assert image.is_inline
    assert image.filename == "image-1.jpg"  # nothing sent: a generated name


def test_mixed_text_and_html_parts_are_kept_in_order():
    raw = multipart(
        "m",
        [
            part("Content-Type: text/plain", "Text part"),
            part("Content-Type: text/html", "<b>HTML signature</b>"),
        ],
    )
    parsed = parse_email(raw)
    assert parsed.text == "Text part\n\nHTML signature"
    assert parsed.html == "<div>Text part</div>\n<b>HTML signature</b>"


def test_forwarded_message_is_kept_as_eml_attachment_with_its_bytes():
    inner = mail(
        "From: original@example.org\nTo: ann@example.com\nSubject: =?utf-8?q?Urspr=C3=BCnglich?=\n"
        "Message-ID: <inner@example.org>",
        "Inner body\r\n",
    )
    raw = multipart(
        "fw",
        [part("Content-Type: text/plain", "Please see below."), part("Content-Type: message/rfc822", inner)],
    )
    parsed = parse_email(raw)
    assert parsed.text == "Please see below."
    (forwarded,) = parsed.attachments
    assert forwarded.filename == "Ursprünglich.eml"
    assert forwarded.declared_type == "message/rfc822"
    assert b"Message-ID: <inner@example.org>" in forwarded.content
    assert forwarded.content.endswith(b"Inner body\r\n")
    assert not parsed.is_bounce


def test_forwarded_message_without_subject_gets_a_default_name():
    inner = mail("From: original@example.org", "x")
    raw = multipart("fw", [part("Content-Type: text/plain", "fyi"), part("Content-Type: message/rfc822", inner)])
    assert parse_email(raw).attachments[0].filename == "forwarded-message.eml"


def test_rfc2231_filename_is_decoded_but_passed_through_unsanitised():
    raw = multipart(
        "m",
        [
            part("Content-Type: text/plain", "two files"),
            part(
                "Content-Type: application/octet-stream\n"
                "Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fetc%2Fpasswd%07%E2%80%AE%C3%A4.txt",
                b"one",
            ),
            part(
                "Content-Type: application/octet-stream\n"
                "Content-Disposition: attachment;\n filename*0*=iso-8859-1''Gr%FC%DFe;\n filename*1=\".pdf\"",
                b"two",
            ),
            part('Content-Type: application/octet-stream; name="=?utf-8?B?w6R0c2NoLnR4dA==?="', b"three"),
        ],
    )
    names = [attachment.filename for attachment in parse_email(raw).attachments]
    assert names == ["../../etc/passwd\x07\u202eä.txt", "Grüße.pdf", "ätsch.txt"]


def test_uuencoded_part_is_decoded():
    body = b"begin 644 note.txt\r\n%2&5L;&\\`\r\n`\r\nend\r\n"
    raw = multipart(
        "m",
        [
            part("Content-Type: text/plain", "see attached"),
            part("Content-Type: text/plain; name=note.txt\nContent-Transfer-Encoding: x-uuencode", body),
        ],
    )
    assert parse_email(raw).attachments[0].content == b"Hello"


def test_multipart_without_its_boundary_is_read_as_text():
    raw = mail("From: a@example.com\nContent-Type: multipart/mixed", b"just some text")
    parsed = parse_email(raw)
    assert parsed.text == "just some text"
    assert parsed.defects


def test_leading_junk_line_and_lost_header_folding_are_repaired():
    raw = (
        b"---- Original email message ----\r\nReceived: from a\r\nby b with ESMTP\r\n"
        b"From: a@example.com\r\nSubject: repaired\r\n\r\nbody\r\n"
    )
    parsed = parse_email(raw)
    assert (parsed.subject, parsed.text) == ("repaired", "body")
    assert parsed.sender == Address("", "a@example.com")


# --- bounces --------------------------------------------------------------------------------------------


def test_multipart_report_bounce_names_the_bounced_message():
    original = mail(
        "From: support@desk.example\nTo: gone@example.org\nSubject: Re: [SD-1] x\nMessage-ID: <sent-1@desk.example>",
        "Our answer",
    )
    raw = multipart(
        "rep",
        [
            part("Content-Type: text/plain", "Delivery to gone@example.org failed permanently."),
            part(
                "Content-Type: message/delivery-status",
                "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\n"
                "Action: failed\r\nStatus: 5.1.1\r\n",
            ),
            part("Content-Type: message/rfc822", original),
        ],
        subtype="report; report-type=delivery-status",
        extra_headers="From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nSubject: Undelivered Mail\n"
        "Message-ID: <bounce@mx.example.org>",
    )
    parsed = parse_email(raw)
    assert parsed.is_bounce
    assert parsed.bounced_message_id == "<sent-1@desk.example>"
    assert parsed.text == "Delivery to gone@example.org failed permanently."
    assert [a.declared_type for a in parsed.attachments] == ["message/delivery-status", "message/rfc822"]


def test_bounce_with_only_rfc822_headers_part():
    raw = multipart(
        "rep",
        [
            part("Content-Type: text/plain", "failed"),
            part("Content-Type: text/rfc822-headers", "From: support@desk.example\r\nMessage-ID: <sent-2@desk>\r\n"),
        ],
        subtype="report; report-type=delivery-status",
        extra_headers="From: postmaster@example.org\nSubject: failure notice",
    )
    parsed = parse_email(raw)
    assert parsed.is_bounce
    assert parsed.bounced_message_id == "<sent-2@desk>"


def test_plain_mailer_daemon_bounce_is_recognised_from_sender_and_subject():
    raw = mail(
        "From: MAILER-DAEMON@mx.example.org\nSubject: Mail delivery failed: returning message to sender",
        "A message that you sent could not be delivered.\r\n\r\n------ This is a copy of the message\r\n"
        "Message-ID: <sent-3@desk.example>\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.is_bounce
    assert parsed.bounced_message_id == "<sent-3@desk.example>"


def test_customer_mail_mentioning_delivery_failure_is_not_a_bounce():
    raw = mail("From: ann@example.com\nSubject: Delivery failed for my order 1234", "Where is my parcel?")
    assert not parse_email(raw).is_bounce


# --- HTML sanitising ---------------------------------------------------------------------------------------


def test_html_is_sanitised():
    html = (
        "<div onmouseover='steal()'>Hi<script>alert(1)</script><style>body{}</style>"
        "<img src='https://tracker.example/p.gif?u=1&x=2' onerror='alert(2)'>"
        "<img src='cid:inline@x'><img src='data:image/png;base64,AAAA'><img src='data:image/svg+xml;base64,AAAA'>"
        "<a href='javascript:alert(3)'>js</a><a href='JaVaScRiPt&colon;alert(4)'>js2</a>"
        "<a href='https://example.com' target='_blank'>ok</a>"
        "<p style='color: red; background: url(https://t.example/x)'>styled</p><p style='color: blue'>blue</p>"
        "<iframe src='https://evil.example'></iframe><form action='/x'><input name='q'></form>"
        "<object data='x'></object><font color=red>font</font></div>"
    )
    clean = sanitize_html(html)
    lowered = clean.lower()
    for forbidden in ("<script", "onerror", "onmouseover", "javascript", "<iframe", "<form", "<input", "<object"):
        assert forbidden not in lowered
    assert "<style" not in lowered
    assert "alert" not in lowered
    assert "url(" not in lowered
    assert "<font" not in lowered
    assert 'target="' not in lowered
    assert '<img data-remote-src="https://tracker.example/p.gif?u=1&amp;x=2">' in clean
    assert ' src="https://' not in clean
    assert '<img src="cid:inline@x">' in clean
    assert '<img src="data:image/png;base64,AAAA">' in clean
    assert "svg" not in lowered
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in clean
    assert '<p style="color:blue">blue</p>' in clean or '<p style="color: blue">blue</p>' in clean


def test_html_to_text_structure():
    html = (
        "<html><head><title>Title</title><style>p {}</style></head><body>"
        "<h1>Heading</h1><p>Para&nbsp;one<br>line two</p>"
        "<ul><li>apple</li><li>pear<ol><li>inner</li></ol></li></ul>"
        "<blockquote><p>quoted</p><blockquote>deeper</blockquote></blockquote>"
        "<p><a href='https://example.com/a'>link</a> and <a href='https://example.com'>https://example.com</a></p>"
        "<table><tr><td>a</td><td>b</td></tr></table><script>x()</script>&lt;end&gt; &amp; done</body></html>"
    )
    assert html_to_text(html) == (
        "Heading\n\nPara one\nline two\n\n- apple\n- pear\n  1. inner\n\n> quoted\n>\n> > deeper\n\n"
        "link (https://example.com/a) and https://example.com\n\na b\n\n<end> & done"
    )


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * 100_000,
        "<ul>" * 20_000 + "<li>x" * 20_000,
        "<a " * 100_000,
        "<!--" * 100_000,
        "</" * 100_000,
        "<blockquote>" * 5_000 + "x",
        "<br>" * 100_000 + "x",
    ],
)
def test_hostile_html_stays_fast_and_bounded(html):
    started = time.perf_counter()
    text = html_to_text(html)
    clean = sanitize_html(html)
    assert time.perf_counter() - started < 3
    assert len(text) < 10 * len(html)
    assert len(clean) < 10 * len(html)


# --- limits and robustness -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n  ", b"\x00" * 10])
def test_empty_input_is_an_error(raw):
    with pytest.raises(EmailParseError):
        parse_email(raw)


def test_no_headers_is_an_error():
    with pytest.raises(EmailParseError, match="no headers"):
        parse_email(b"just a line of text without any header\r\nand another\r\n")


def test_ten_thousand_parts_fail_fast():
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(10_000))
    raw = mail("From: a@example.com\nContent-Type: multipart/mixed; boundary=b", parts + b"--b--\r\n")
    started = time.perf_counter()
    with pytest.raises(EmailParseError, match="too many MIME parts") as error:
        parse_email(raw)
    assert time.perf_counter() - started < 1
    assert error.value.reason == "too many MIME parts"


def test_part_limit_is_configurable():
    parts = [part("Content-Type: text/plain", f"part {number}") for number in range(5)]
    raw = multipart("b", parts)
    assert parse_email(raw, max_parts=10).text.startswith("part 0")
    with pytest.raises(EmailParseError, match="too many MIME parts"):
        parse_email(raw, max_parts=3)


def test_one_megabyte_header_line_fails_fast():
    raw = b"From: a@example.com\r\nSubject: " + b"x" * MB + b"\r\n\r\nbody"
    started = time.perf_counter()
    with pytest.raises(EmailParseError, match="header section larger"):
        parse_email(raw)
    assert time.perf_counter() - started < 0.5


def test_deep_nesting_is_an_error():
    body = b"x"
    for level in range(60):
        body = (
            f"Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n".encode()
            + body
            + f"\r\n--b{level}--\r\n".encode()
        )
    with pytest.raises(EmailParseError, match="nesting too deep"):
        parse_email(b"From: a@example.com\r\n" + body)


def test_deeply_nested_rfc822_is_an_error_not_a_crash():
    raw = b"From: a@example.com\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 400 + b"Subject: x\r\n\r\nbody"
    with pytest.raises(EmailParseError):
        parse_email(raw)


def test_attachment_over_the_limit_is_skipped_and_the_rest_kept():
    line = base64.encodebytes(bytes(57 * 1024)).replace(b"\n", b"\r\n")  # 57 KiB per chunk
    big = line * (30 * 1024 // 57 + 1)  # a little over 30 MB decoded
    raw = multipart(
        "big",
        [
            part("Content-Type: text/plain; charset=utf-8", "Hello, the log is attached."),
            part(
                'Content-Type: application/octet-stream; name="huge.log"\n'
                'Content-Disposition: attachment; filename="huge.log"\nContent-Transfer-Encoding: base64',
                big,
            ),
            part('Content-Type: text/plain; name="small.txt"\nContent-Disposition: attachment', "small"),
        ],
    )
    del big, line
    parsed = parse_email(raw)
    assert parsed.text == "Hello, the log is attached."
    assert [a.filename for a in parsed.attachments] == ["small.txt"]
    (skipped,) = parsed.skipped
    assert skipped.filename == "huge.log"
    assert skipped.size > 30 * MB
    assert skipped.reason == "larger than 25 MB limit"


def test_attachment_limit_is_configurable_and_exact():
    raw = multipart(
        "m",
        [
            part("Content-Type: text/plain", "x"),
            part("Content-Type: application/octet-stream; name=a.bin", b"1234567890"),
            part("Content-Type: application/octet-stream; name=b.bin", b"12345678901"),
        ],
    )
    parsed = parse_email(raw, max_attachment_bytes=10)
    assert [a.filename for a in parsed.attachments] == ["a.bin"]
    assert parsed.skipped[0].filename == "b.bin"
    assert parsed.skipped[0].reason == "larger than 10 bytes limit"


def _outcome(raw: bytes) -> ParsedEmail | None:
    try:
        return parse_email(raw)
    except EmailParseError as error:
        reason = error.reason
    assert not reason.startswith("internal error"), reason
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_give_a_result_or_a_parse_error(raw):
    result = _outcome(raw)
    assert result is None or isinstance(result, ParsedEmail)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [*"abc:;=?<>@\"'-_ \t\r\n/*%\u00e4\udcff", "=?", "?=", "--", "boundary=", "\r\n\r\n", "=?utf-8?q?"]
        ),
        max_size=120,
    ).map("".join)
)
def test_header_like_noise_gives_a_result_or_a_parse_error(noise):
    raw = (
        f"From: {noise}\r\nTo: {noise}\r\nSubject: {noise}\r\nContent-Type: multipart/mixed; {noise}\r\n"
        f"Content-Disposition: attachment; {noise}\r\n\r\n{noise}"
    ).encode("utf-8", "surrogatepass")
    _outcome(raw)


def _corpus() -> list[bytes]:
    if not MAIL_DIR.is_dir():
        return []
    files = sorted(MAIL_DIR.glob("zammad/*.box")) + sorted(MAIL_DIR.glob("django_helpdesk/*.eml"))
    return [path.read_bytes() for path in files]


CORPUS = _corpus()


@pytest.mark.skipif(not CORPUS, reason=f"shared mail corpus not found at {MAIL_DIR}")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_messages_give_a_result_or_a_parse_error(data):
    raw = bytearray(data.draw(st.sampled_from(CORPUS)))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    for _ in range(data.draw(st.integers(1, 20))):
        position = rng.randrange(len(raw))
        action = rng.choice(("flip", "delete", "insert", "truncate"))
        if action == "flip":
            raw[position] = rng.randrange(256)
        elif action == "delete":
            del raw[position : position + rng.randrange(1, 200)]
        elif action == "insert":
            raw[position:position] = rng.choice([b"\r\n", b"--", b"=?utf-8?b?", b"\r\n\r\n", b"\xff\xfe", b"<"])
        elif len(raw) > 10:
            del raw[rng.randrange(10, len(raw)) :]
        if not raw:
            break
    _outcome(bytes(raw))
