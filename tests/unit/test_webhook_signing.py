"""Webhook signatures (Stripe-like), the retry schedule and the event mapping (pure)."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from webhooks.domain import retry, signing
from webhooks.domain.events import WebhookEvent, normalise_event_list, sla_warning_percent, webhook_event_type

SECRET = "whsec_test"
BODY = b'{"id":"e1","type":"ticket.created"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.compute_signature(SECRET, 1700000000, BODY) == expected
    assert signing.signature_header(SECRET, 1700000000, BODY) == f"t=1700000000,v1={expected}"


def test_a_valid_signature_verifies():
    header = signing.signature_header(SECRET, 1700000000, BODY)
    assert signing.verify_signature(SECRET, header, BODY, now=1700000010)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec_other", BODY, 1700000010),  # wrong secret
        (SECRET, BODY + b" ", 1700000010),  # body changed
        (SECRET, BODY, 1700000000 + 301),  # too old (replay)
        (SECRET, BODY, 1700000000 - 301),  # from the future
    ],
)
def test_a_wrong_secret_body_or_age_fails(secret, body, now):
    header = signing.signature_header(SECRET, 1700000000, BODY)
    assert not signing.verify_signature(secret, header, body, now=now)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1700000000", "garbage", "t=1700000000,v1="])
def test_malformed_headers_fail(header):
    assert not signing.verify_signature(SECRET, header, BODY, now=1700000000)


def test_any_of_several_v1_signatures_may_match():
    good = signing.compute_signature(SECRET, 1700000000, BODY)
    assert signing.verify_signature(SECRET, f"t=1700000000,v1={'0' * 64},v1={good}", BODY, now=1700000000)


def test_secrets_are_random_prefixed_and_masked():
    one, two = signing.new_secret(), signing.new_secret()
    assert one != two
    assert one.startswith("whsec_") and len(one) > 40
    assert signing.mask_secret(one) == f"whsec_…{one[-4:]}"
    assert one[6:-4] not in signing.mask_secret(one)


def test_retry_delays_grow_and_are_capped_with_jitter():
    rng = random.Random(1)
    delays = [retry.retry_delay(n, rng=rng) for n in range(1, 10)]
    bases = [30, 120, 600, 3600, 21600, 43200, 43200, 43200, 43200]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.9 <= delay <= base * 1.1
    assert retry.retry_delay(1, jitter=0) == 30
    with pytest.raises(ValueError, match="starts at 1"):
        retry.retry_delay(0)


def test_jitter_spreads_deliveries_that_failed_together():
    rng = random.Random(7)
    assert len({round(retry.retry_delay(1, rng=rng), 3) for _ in range(20)}) > 10


def test_outcomes():
    assert retry.is_success(200) and retry.is_success(204) and not retry.is_success(302)
    assert not retry.is_success(500) and not retry.is_success(199)
    assert retry.is_redirect(307) and not retry.is_redirect(304)
    assert retry.gives_up(8, 8) and not retry.gives_up(7, 8)


@pytest.mark.parametrize(
    ("action", "field", "new_value", "expected"),
    [
        ("created", "", "Printer broken", WebhookEvent.TICKET_CREATED),
        ("message_added", "reply", "", WebhookEvent.MESSAGE_CREATED),
        ("message_added", "note", "", WebhookEvent.MESSAGE_CREATED),
        ("status", "status", "solved", WebhookEvent.TICKET_UPDATED),
        ("priority", "priority", "high", WebhookEvent.TICKET_UPDATED),
        ("assignee", "assignee", "Anna", WebhookEvent.TICKET_UPDATED),
        ("tags", "tags", "a, b", WebhookEvent.TICKET_UPDATED),
        ("custom_field", "order_no", "42", WebhookEvent.TICKET_UPDATED),
        ("merged_into", "merged_into", "SD-2", WebhookEvent.TICKET_UPDATED),
        ("sla", "first_response", "warning at 80 %", WebhookEvent.SLA_WARNING),
        ("sla", "resolution", "breached", WebhookEvent.SLA_BREACHED),
        ("sla", "resolution", "met", None),
        ("sla", "resolution", "met late", None),
        ("sla", "resolution", "escalated at 150 %", None),
        ("csat", "rating", "good", WebhookEvent.CSAT_RECEIVED),
        ("csat", "rating", "", None),
        ("unknown", "", "", None),
    ],
)
def test_ticket_events_map_to_webhook_events(action, field, new_value, expected):
    assert webhook_event_type(action, field, new_value) == expected


def test_sla_warning_percent():
    assert sla_warning_percent("warning at 75 %") == 75
    assert sla_warning_percent("breached") is None


def test_event_lists_are_normalised_and_checked():
    assert normalise_event_list(["sla.breached", "ticket.created", "ticket.created"]) == [
        "ticket.created",
        "sla.breached",
    ]
    with pytest.raises(ValueError, match="ticket.deleted"):
        normalise_event_list(["ticket.deleted"])
