"""CSAT and branding rules without a database: when a survey stands, the score, logo checks, the name."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from service_desk.domain.branding import MAX_LOGO_BYTES, LogoRejected, brand_name, logo_extension, logo_type
from tickets.domain import csat

SOLVED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def png_bytes(size: int = 0) -> bytes:
    """A valid 1x1 PNG, padded with an ancillary chunk to ``size`` bytes when asked."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    body = chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    padding = max(0, size - len(head) - len(body) - 12)
    return head + (chunk(b"tEXt", b"x" * padding) if padding else b"") + body


def test_a_survey_stands_while_its_solve_stands():
    assert csat.survey_open(ticket_status="solved", ticket_solved_at=SOLVED_AT, asked_at=SOLVED_AT)
    # Closed after that solve (closing keeps solved_at): still stands.
    assert csat.survey_open(ticket_status="closed", ticket_solved_at=SOLVED_AT, asked_at=SOLVED_AT)


def test_a_reopen_or_a_later_solve_ends_a_survey():
    assert not csat.survey_open(ticket_status="open", ticket_solved_at=None, asked_at=SOLVED_AT)
    later = SOLVED_AT + timedelta(hours=1)
    assert not csat.survey_open(ticket_status="solved", ticket_solved_at=later, asked_at=SOLVED_AT)
    assert not csat.survey_open(ticket_status="pending", ticket_solved_at=SOLVED_AT, asked_at=SOLVED_AT)


@pytest.mark.parametrize(("good", "bad", "expected"), [(0, 0, None), (3, 1, 75.0), (0, 2, 0.0), (2, 1, 66.7)])
def test_score_is_good_over_all_answers(good, bad, expected):
    assert csat.score(good, bad) == expected


def test_ratings_and_comments_are_checked():
    assert csat.clean_rating(" Good ") == "good"
    with pytest.raises(ValueError, match="good or bad"):
        csat.clean_rating("meh")
    assert csat.clean_comment("  fine\r\nthanks ") == "fine\nthanks"
    with pytest.raises(ValueError, match="2000"):
        csat.clean_comment("x" * (csat.MAX_COMMENT + 1))


def test_png_is_a_logo_and_gets_its_extension():
    assert logo_type(png_bytes()) == "image/png"
    assert logo_extension("image/png") == "png"


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"<!doctype html><html><script>alert(1)</script></html>",
        b"%PDF-1.7\n",
        b"",
    ],
    ids=["svg", "html-named-png", "pdf", "empty"],
)
def test_anything_but_raster_images_is_refused(data):
    with pytest.raises(LogoRejected):
        logo_type(data)


def test_a_logo_over_one_megabyte_is_refused():
    data = png_bytes(MAX_LOGO_BYTES + 10)
    assert len(data) > MAX_LOGO_BYTES
    with pytest.raises(LogoRejected) as info:
        logo_type(data)
    assert info.value.code == "too_large"
    assert logo_type(png_bytes(MAX_LOGO_BYTES - 100)) == "image/png"
    assert io.BytesIO(data).read(8) == b"\x89PNG\r\n\x1a\n"


def test_brand_name_falls_back_to_the_deployment_name():
    assert brand_name("  Acme   Help ", "Service Desk") == "Acme Help"
    assert brand_name("", "Contoso Support") == "Contoso Support"
    assert brand_name("", "") == "Service Desk"
