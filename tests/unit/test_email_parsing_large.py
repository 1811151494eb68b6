"""Large attachments: decoded outside the email package, with exactly the result the email package gives.

``parsing._RUN_MIN_BYTES`` decides which runs of base64 lines bypass the email package; a huge value
turns the bypass off (everything goes through ``email`` as before), a tiny one puts every such run,
even a one-word line of a text body, through it. Both must give the same ``ParsedEmail``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_intake.email import parsing
from channels_intake.email.parsing import EmailParseError, parse_email

MAIL_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mail"
CORPUS = sorted(p for p in MAIL_DIR.rglob("*") if p.is_file() and p.name != "SOURCES.md") if MAIL_DIR.is_dir() else []


def _b64(data: bytes, nl: bytes = b"\n", width: int = 76) -> bytes:
    encoded = base64.b64encode(data)
    return nl.join(encoded[i : i + width] for i in range(0, len(encoded), width)) + nl


def _mime(parts: list[tuple[bytes, bytes]], nl: bytes = b"\n", preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    head = [b"From: Carla <carla@example.com>", b"To: support@desk.example", b"Subject: files", b"Message-ID: <f@x>"]
    out = nl.join([*head, b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="B"', b""]) + nl + preamble
    for headers, body in parts:
        out += b"--B" + nl + headers.replace(b"\n", nl) + nl + body
    return out + b"--B--" + nl + epilogue


ATTACHMENT = (
    b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
    b"Content-Disposition: attachment; filename=a.pdf\n"
)
TEXT = b"Content-Type: text/plain; charset=utf-8\n"


def _cases() -> dict[str, bytes]:
    data = random.Random(7).randbytes(3000)
    inner = _mime([(TEXT, b"inner\n"), (ATTACHMENT, _b64(data))])
    cases = {}
    for nl in (b"\n", b"\r\n"):
        name = "crlf" if nl == b"\r\n" else "lf"
        cases[f"attachment last ({name})"] = _mime([(TEXT, b"Hello" + nl), (ATTACHMENT, _b64(data, nl))], nl)
        cases[f"attachment first ({name})"] = _mime([(ATTACHMENT, _b64(data, nl)), (TEXT, b"Hello" + nl)], nl)
        cases[f"padding ({name})"] = _mime([(ATTACHMENT, _b64(data[:-1], nl))], nl)
        cases[f"padding missing ({name})"] = _mime([(ATTACHMENT, _b64(data[:-1], nl).replace(b"=", b""))], nl)
        cases[f"padding in the middle ({name})"] = _mime([(ATTACHMENT, _b64(data[:10], nl) + _b64(data, nl))], nl)
        cases[f"blank line after padding ({name})"] = _mime(
            [(ATTACHMENT, _b64(data[:10], nl) + nl + _b64(data, nl))], nl
        )
        cases[f"blank line inside ({name})"] = _mime([(ATTACHMENT, _b64(data[:300], nl) + nl + _b64(data, nl))], nl)
        cases[f"stray characters ({name})"] = _mime(
            [(ATTACHMENT, _b64(data, nl)[:900] + b"!!" + nl + _b64(data, nl))], nl
        )
        cases[f"trailing spaces ({name})"] = _mime([(ATTACHMENT, _b64(data, nl).replace(nl, b" " + nl, 5))], nl)
        cases[f"one character too many ({name})"] = _mime([(ATTACHMENT, _b64(data, nl) + b"Q" + nl)], nl)
        cases[f"8-bit bytes in the part ({name})"] = _mime([(ATTACHMENT, b"\xe9t\xe9" + nl + _b64(data, nl))], nl)
        cases[f"base64 text body ({name})"] = _mime(
            [
                (
                    b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n",
                    _b64("h\u00e9llo ".encode() * 500, nl),
                )
            ],
            nl,
        )
        cases[f"base64 lines in a 7bit body ({name})"] = _mime(
            [(TEXT, b"Key:" + nl + _b64(data, nl) + b"end" + nl)], nl
        )
        cases[f"quoted-printable ({name})"] = _mime(
            [(b"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n", _b64(data, nl))], nl
        )
        cases[f"preamble and epilogue ({name})"] = _mime([(TEXT, b"x" + nl)], nl, _b64(data, nl), _b64(data, nl))
        cases[f"forwarded message ({name})"] = _mime(
            [(TEXT, b"see" + nl), (b"Content-Type: message/rfc822\n", inner)], nl
        )
        cases[f"delivery status ({name})"] = _mime(
            [(b"Content-Type: message/delivery-status\n", b"Reporting-MTA: dns; x" + nl + nl + _b64(data, nl))], nl
        )
        cases[f"single part without final newline ({name})"] = (
            nl.join([b"From: a@example.com", b"Content-Type: image/png", b"Content-Transfer-Encoding: base64", b""])
            + nl
            + _b64(data, nl)[: -len(nl)]
        )
        cases[f"no blank line after the headers ({name})"] = b"From: a@example.com" + nl + _b64(data, nl)
    return cases


def _parse(raw: bytes, **limits: int) -> object:
    try:
        return parse_email(raw, **limits)
    except EmailParseError as exc:
        return ("error", exc.reason)


def _bypass(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(parsing, "_RUN_MIN_BYTES", 1 if on else 10**12)
    # Also take the no-copy scanning path of large messages, with windows that split everything.
    monkeypatch.setattr(parsing, "_LOWER_COPY_LIMIT", 0 if on else 10**12)
    monkeypatch.setattr(parsing, "_SCAN_WINDOW", 7)
    # Feed and decode in odd small pieces: leftovers carry across every kind of boundary.
    monkeypatch.setattr(parsing, "_FEED_BYTES", 5)
    monkeypatch.setattr(parsing, "_DECODE_BYTES", 7)


@pytest.mark.parametrize(("name", "raw"), list(_cases().items()), ids=list(_cases()))
@pytest.mark.parametrize("limit", [1000, 25 * 1024 * 1024])
def test_long_base64_runs_parse_exactly_as_through_the_email_package(monkeypatch, name, raw, limit):
    _bypass(monkeypatch, on=False)
    expected = _parse(raw, max_attachment_bytes=limit)
    _bypass(monkeypatch, on=True)
    assert _parse(raw, max_attachment_bytes=limit) == expected


@pytest.mark.skipif(not CORPUS, reason=f"shared mail corpus not found at {MAIL_DIR}")
def test_the_real_world_corpus_parses_the_same_with_every_base64_run_bypassed(monkeypatch):
    for path in CORPUS:
        raw = path.read_bytes()
        _bypass(monkeypatch, on=False)
        expected = _parse(raw)
        _bypass(monkeypatch, on=True)
        assert _parse(raw) == expected, path.name


def test_a_large_attachment_is_decoded_whole_and_exact():
    content = os.urandom(3 * 1024 * 1024 + 1)
    raw = _mime([(TEXT, b"Hello\n"), (ATTACHMENT, _b64(content))])
    parsed = parse_email(raw)
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]
    assert hashlib.sha256(parsed.attachments[0].content).digest() == hashlib.sha256(content).digest()
    assert parsed.text == "Hello"
    assert parsed.defects == ()


def test_a_large_attachment_over_the_limit_is_skipped_without_decoding():
    raw = _mime([(TEXT, b"Hello\n"), (ATTACHMENT, _b64(os.urandom(201_000)))])
    parsed = parse_email(raw, max_attachment_bytes=100_000)
    assert parsed.attachments == ()
    assert [(s.filename, s.size) for s in parsed.skipped] == [("a.pdf", 201_000)]


def test_a_placeholder_lookalike_in_the_message_does_not_confuse_the_parser():
    content = os.urandom(100_000)
    decoy = b"Qsdrun0x0000000000\n"  # what the first placeholder would be
    raw = _mime([(TEXT, decoy), (ATTACHMENT, _b64(content))])
    parsed = parse_email(raw)
    assert parsed.text == decoy.decode().strip()
    assert parsed.attachments[0].content == content


def test_scanning_a_large_message_in_windows_finds_what_scanning_it_whole_finds(monkeypatch):
    rng = random.Random(3)
    atoms = [
        b"boundary",
        b"BOUNDARY*",
        b"=",
        b" ",
        b"\n",
        b'"',
        b"abc",
        b";",
        b"message/RFC822",
        b"Message/global",
        b"q" * 60,
    ]
    for _ in range(300):
        raw = b"".join(rng.choice(atoms) for _ in range(rng.randrange(1, 60)))
        lowered = raw.lower()
        whole = (
            parsing._declared_boundaries(raw, lowered),
            lowered.count(b"message/rfc822") + lowered.count(b"message/global"),
        )
        for window in (1, 5, 64):
            monkeypatch.setattr(parsing, "_SCAN_WINDOW", window)
            assert parsing._scan_large(raw) == whole, raw


def test_a_clean_large_attachment_never_goes_back_through_the_email_package(monkeypatch):
    def expand(self, text):
        raise AssertionError("the run was expanded into text again")

    monkeypatch.setattr(parsing._Runs, "expand", expand)
    monkeypatch.setattr(parsing, "_DECODE_BYTES", 1001)  # chunks that split base64 quanta
    content = os.urandom(300_001)
    for nl in (b"\n", b"\r\n"):
        parsed = parse_email(_mime([(TEXT, b"Hello" + nl), (ATTACHMENT, _b64(content, nl))], nl))
        assert parsed.attachments[0].content == content


_PART_HEADERS = [
    b"Content-Type: text/plain; charset=iso-8859-1",
    b"Content-Type: text/html",
    b"Content-Type: application/octet-stream; name=x.bin",
    b"Content-Type: message/rfc822",
    b"Content-Type: message/delivery-status",
    b'Content-Type: multipart/alternative; boundary="C"',
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename=a.pdf",
    b"Subject: inner",
]
_BODY_LINES = [b"QUJD", b"QUJDRA==", b"QQ==", b"SGVsbG8gd29ybGQ", b"=", b"", b" x", b"caf\xe9", b".", b"a: b", b"--C"]
_parts = st.lists(
    st.tuples(st.lists(st.sampled_from(_PART_HEADERS), max_size=3), st.lists(st.sampled_from(_BODY_LINES), max_size=8)),
    max_size=4,
)


@given(
    parts=_parts,
    preamble=st.lists(st.sampled_from(_BODY_LINES), max_size=3),
    epilogue=st.lists(st.sampled_from(_BODY_LINES), max_size=3),
    closed=st.booleans(),
    crlf=st.booleans(),
    limit=st.sampled_from([10, 1_000_000]),
)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_mime_structure_parses_the_same_with_runs_bypassed(
    monkeypatch, parts, preamble, epilogue, closed, crlf, limit
):
    lines = [b"From: a@example.com", b"Subject: s", b'Content-Type: multipart/mixed; boundary="B"', b"", *preamble]
    for headers, body in parts:
        lines += [b"--B", *headers, b"", *body]
    if closed:
        lines += [b"--B--", *epilogue]
    nl = b"\r\n" if crlf else b"\n"
    raw = nl.join(lines) + nl
    _bypass(monkeypatch, on=False)
    expected = _parse(raw, max_attachment_bytes=limit)
    _bypass(monkeypatch, on=True)
    assert _parse(raw, max_attachment_bytes=limit) == expected
