"""References, macro placeholders, file names and sniffing, email and domain rules."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.domain.emails import (
    InvalidEmail,
    domain_candidates,
    normalize_email,
    validate_organization_domain,
)
from tickets.domain import macros
from tickets.domain.files import safe_filename, sniff_content_type
from tickets.domain.references import find_subject_tokens, format_reference, parse_reference, subject_token


@given(st.integers(min_value=1, max_value=10**15))
def test_reference_round_trips(number):
    assert parse_reference(format_reference("SD", number), "SD") == number
    assert find_subject_tokens(f"Re: {subject_token('SD', number)} printer", "SD") == [number]


@pytest.mark.parametrize(
    "text", ["SD-", "SD-12a", "XX-12", "SD 12", "12", "SD--1", "SD-1 2", "SD-²", "SD-١٢", "SD-1234567890123456789"]
)
def test_reference_parse_rejects_other_text(text):
    assert parse_reference(text, "SD") is None


def test_subject_tokens_are_found_case_insensitively_in_order():
    assert find_subject_tokens("AW: [sd-7] Re: [SD-42] [XY-1]", "SD") == [7, 42]


def test_macro_renders_known_placeholders_and_leaves_template_syntax_literal():
    text = "Hi {{ customer.first_name }}, {% load evil %}{{ ticket.reference }} {{ settings.SECRET_KEY }}"
    rendered = macros.render(text, {"customer.first_name": "Ann", "ticket.reference": "SD-1"})
    assert rendered == "Hi Ann, {% load evil %}SD-1 {{ settings.SECRET_KEY }}"


def test_macro_check_names_unknown_placeholders():
    with pytest.raises(macros.UnknownPlaceholder, match="user.password"):
        macros.check_placeholders("{{ customer.name }} {{ user.password }}")
    macros.check_placeholders("{{customer.name}} and {{ desk.name }}")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ("in\x00voice\r\n.pdf", "invoice.pdf"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("  ..  ", "attachment"),
        ("a<b>c.txt", "a_b_c.txt"),
    ],
)
def test_safe_filename_strips_paths_controls_and_bidi(name, expected):
    assert safe_filename(name) == expected


@given(st.text(max_size=400))
def test_safe_filename_never_has_a_path_or_control_character(name):
    result = safe_filename(name)
    assert result
    assert len(result) <= 200
    assert "/" not in result
    assert "\\" not in result
    assert not any(ord(ch) < 32 for ch in result)


def test_long_filename_keeps_its_extension():
    assert safe_filename("x" * 500 + ".pdf").endswith(".pdf")
    assert len(safe_filename("x" * 500 + ".pdf")) == 200


def test_sniffing_trusts_bytes_not_names():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    assert sniff_content_type(png) == "image/png"
    assert sniff_content_type(b"%PDF-1.7\n...") == "application/pdf"
    assert sniff_content_type(b"<svg onload=alert(1)>") == "text/plain"
    assert sniff_content_type(b"\xff\xfe\x00\x01binary") == "application/octet-stream"


def test_emails_are_normalised_case_insensitively_with_idna():
    assert normalize_email("  Bob.Smith@ACME.Example ") == "bob.smith@acme.example"
    assert normalize_email("anna@bücher.example") == "anna@xn--bcher-kva.example"


@pytest.mark.parametrize("bad", ["", "no-at", "a@b", "a@@b.com", "a b@c.com", "a@-x.com", "a@b.123", "x\n@y.com"])
def test_invalid_emails_are_refused(bad):
    with pytest.raises(InvalidEmail):
        normalize_email(bad)


def test_domain_candidates_go_from_specific_to_parent():
    assert domain_candidates("EU.mail.Acme.com") == ["eu.mail.acme.com", "mail.acme.com", "acme.com"]


def test_freemail_domains_cannot_be_claimed_by_an_organization():
    with pytest.raises(InvalidEmail, match="public email provider"):
        validate_organization_domain("GMX.de")
    assert validate_organization_domain("@Acme.COM.") == "acme.com"
