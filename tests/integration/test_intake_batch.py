"""Intake in batches: many stored messages claimed and processed in one transaction, with every
guarantee of processing them one by one (threading, duplicates, quarantine, attempts)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_intake import services as intake
from channels_intake import tasks as intake_tasks
from channels_intake.models import InboundMessage, Mailbox, Outcome, Source
from channels_intake.tasks import process_inbound_task
from tests import factories
from tests.integration.mail import raw_mail
from tests.integration.sla_support import policy
from tickets import services as ticket_services
from tickets import tasks as ticket_tasks
from tickets.models import Message, Ticket, TicketSLAClock

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    team = factories.team("Consumer Support")
    return Mailbox.objects.create(name="Support", email_address="support@desk.example", default_team=team, host="")


def store(raw: bytes, mailbox: Mailbox | None = None, source: str = Source.HTTP) -> InboundMessage:
    return intake.inbound_store(raw=raw, source=source, mailbox=mailbox, queue=False)


def fresh(row: InboundMessage) -> InboundMessage:
    return InboundMessage.objects.get(pk=row.pk)


class WorkerKilled(BaseException):
    """What a time limit or the OOM killer does to a worker: nothing below catches it."""


def test_one_claim_opens_the_new_tickets_and_appends_the_replies(mailbox):
    earlier = intake.inbound_process(store(raw_mail(message_id="<old@consumer.example>"), mailbox).pk)
    first = store(raw_mail(message_id="<n1@consumer.example>", sender="ann@consumer.example"), mailbox)
    second = store(raw_mail(message_id="<n2@consumer.example>", sender="bob@consumer.example"), mailbox)
    reply = store(raw_mail(in_reply_to="<old@consumer.example>", subject="Re: order"), mailbox)

    processed = intake.inbound_process_batch()

    assert sorted(r.pk for r in processed) == [first.pk, second.pk, reply.pk]
    assert [fresh(r).outcome for r in (first, second, reply)] == [
        Outcome.TICKET_CREATED,
        Outcome.TICKET_CREATED,
        Outcome.APPENDED,
    ]
    assert fresh(reply).ticket_id == earlier.ticket_id
    assert fresh(first).ticket.requester.emails.get().email == "ann@consumer.example"
    assert fresh(first).message.message_id == "<n1@consumer.example>"
    assert fresh(second).ticket.team == mailbox.default_team
    assert Ticket.objects.count() == 3
    assert not InboundMessage.objects.filter(outcome=Outcome.PENDING).exists()
    assert intake.inbound_process_batch() == []  # nothing left to claim


def test_a_reply_to_a_message_of_the_same_batch_joins_its_ticket_even_if_stored_first():
    early_reply = store(
        raw_mail(subject="Re: order", in_reply_to="<o1@consumer.example>", message_id="<r0@consumer.example>")
    )
    original = store(raw_mail(message_id="<o1@consumer.example>"))
    reply = store(
        raw_mail(subject="Re: order", in_reply_to="<o1@consumer.example>", message_id="<r1@consumer.example>")
    )
    reply_to_reply = store(
        raw_mail(
            subject="Re: Re: order",
            in_reply_to="<r1@consumer.example>",
            references="<o1@consumer.example> <r1@consumer.example>",
        )
    )

    assert len(intake.inbound_process_batch()) == 4

    ticket_id = fresh(original).ticket_id
    assert fresh(original).outcome == Outcome.TICKET_CREATED
    for row in (early_reply, reply, reply_to_reply):
        assert (fresh(row).outcome, fresh(row).ticket_id, fresh(row).threading_rule) == (
            Outcome.APPENDED,
            ticket_id,
            "in_reply_to",
        )
    assert Ticket.objects.count() == 1
    assert Message.objects.filter(ticket_id=ticket_id).count() == 4


def test_one_bad_message_in_a_batch_is_quarantined_and_the_others_commit(mailbox, monkeypatch):
    earlier = intake.inbound_process(store(raw_mail(message_id="<base@consumer.example>"), mailbox).pk)
    clean_subject = ticket_services._clean_subject

    def refuse_poison(subject: str) -> str:
        if "poison" in subject:
            raise ticket_services.TicketError("The subject is poisoned.", field="subject")
        return clean_subject(subject)

    message_from = ticket_services._message_from

    def failing_message(ticket, new, *args, **kwargs):
        if "poison" in new.body_text:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")  # a database error inside the batch's transaction
        return message_from(ticket, new, *args, **kwargs)

    monkeypatch.setattr(ticket_services, "_clean_subject", refuse_poison)
    monkeypatch.setattr(ticket_services, "_message_from", failing_message)
    good = store(raw_mail(sender="ann@consumer.example", subject="Printer jam"), mailbox)
    refused = store(raw_mail(sender="bob@consumer.example", subject="A poison subject"), mailbox)
    unparsable = store(b"not a mail at all", mailbox)
    broken_reply = store(
        raw_mail(in_reply_to="<base@consumer.example>", subject="Re: x", body="poison in the reply"), mailbox
    )
    good_reply = store(raw_mail(in_reply_to="<base@consumer.example>", subject="Re: x", body="Thanks!"), mailbox)
    also_good = store(raw_mail(sender="cid@consumer.example", subject="Invoice"), mailbox)

    assert len(intake.inbound_process_batch()) == 6

    assert fresh(good).outcome == fresh(also_good).outcome == Outcome.TICKET_CREATED
    assert fresh(good_reply).outcome == Outcome.APPENDED and fresh(good_reply).ticket_id == earlier.ticket_id
    assert (fresh(refused).outcome, fresh(refused).reason) == (Outcome.QUARANTINED, "The subject is poisoned.")
    assert fresh(unparsable).outcome == Outcome.QUARANTINED and fresh(unparsable).reason
    assert fresh(broken_reply).outcome == Outcome.QUARANTINED
    assert "division by zero" in fresh(broken_reply).reason
    assert fresh(refused).ticket_id is None and fresh(broken_reply).message_id is None
    assert not Ticket.objects.filter(subject__contains="poison").exists()
    assert not Message.objects.filter(body_text__contains="poison").exists()
    subjects = set(Ticket.objects.values_list("subject", flat=True))
    assert subjects == {"My order did not arrive", "Printer jam", "Invoice"}

    monkeypatch.undo()  # fixed: the quarantined ones go through on retry
    assert intake.inbound_retry(fresh(refused)).outcome == Outcome.TICKET_CREATED
    assert intake.inbound_retry(fresh(broken_reply)).outcome == Outcome.APPENDED


def test_copies_of_one_message_id_in_a_batch_become_one_message_and_duplicates(mailbox):
    raw = raw_mail(message_id="<same@consumer.example>")
    # Two originals with the same Message-ID (stored under different keys, e.g. before a key change).
    first = InboundMessage.objects.create(source=Source.HTTP, raw=raw, size=len(raw), dedupe_key="legacy-1")
    second = InboundMessage.objects.create(source=Source.HTTP, raw=raw, size=len(raw), dedupe_key="legacy-2")
    stored_before = intake.inbound_process(store(raw_mail(message_id="<before@consumer.example>")).pk)
    copy_of_stored = InboundMessage.objects.create(
        source=Source.HTTP,
        raw=raw_mail(message_id="<before@consumer.example>", body="other bytes"),
        size=1,
        dedupe_key="legacy-3",
    )

    assert len(intake.inbound_process_batch()) == 3

    assert fresh(first).outcome == Outcome.TICKET_CREATED
    assert (fresh(second).outcome, fresh(second).ticket_id) == (Outcome.DUPLICATE, fresh(first).ticket_id)
    assert fresh(second).reason == f"A message with this Message-ID is already on {fresh(first).ticket.reference}."
    assert (fresh(copy_of_stored).outcome, fresh(copy_of_stored).ticket_id) == (
        Outcome.DUPLICATE,
        stored_before.ticket_id,
    )
    assert Message.objects.filter(message_id="<same@consumer.example>").count() == 1
    assert Ticket.objects.count() == 2


def test_suppressed_mail_in_a_batch_opens_nothing(mailbox):
    auto = store(raw_mail(headers={"Auto-Submitted": "auto-replied"}, sender="ooo@consumer.example"), mailbox)
    loop = store(raw_mail(sender="support@desk.example"), mailbox)
    real = store(raw_mail(), mailbox)

    intake.inbound_process_batch()

    assert (fresh(auto).outcome, fresh(loop).outcome, fresh(real).outcome) == (
        Outcome.SUPPRESSED,
        Outcome.SUPPRESSED,
        Outcome.TICKET_CREATED,
    )
    assert Ticket.objects.count() == 1


def test_a_batch_its_worker_died_on_is_retried_one_by_one_and_only_the_killer_is_quarantined(settings, monkeypatch):
    settings.INTAKE_MAX_ATTEMPTS = 2
    rows = [store(raw_mail(subject=f"Message {n}")) for n in range(3)]
    killer = store(raw_mail(subject="The killer"))
    process = intake._process

    def dies_on_the_killer(row):
        if row.pk == killer.pk:
            raise WorkerKilled
        return process(row)

    monkeypatch.setattr(intake, "_process", dies_on_the_killer)

    with pytest.raises(WorkerKilled):
        intake.inbound_process_batch()
    # The attempt was committed before the work; the work was rolled back.
    assert {(r.outcome, r.attempts) for r in InboundMessage.objects.all()} == {(Outcome.PENDING, 1)}
    assert not Ticket.objects.exists()
    assert intake.inbound_process_batch() == []  # never claimed as a batch again

    # The task's redelivery or the stranded-message sweep start each one alone.
    for row in rows:
        assert process_inbound_task(row.pk) == Outcome.TICKET_CREATED
    with pytest.raises(WorkerKilled):
        process_inbound_task(killer.pk)
    assert process_inbound_task(killer.pk) == Outcome.QUARANTINED
    assert "never finished" in fresh(killer).reason
    assert Ticket.objects.count() == 3


def test_the_task_processes_its_message_with_the_others_waiting():
    rows = [store(raw_mail(subject=f"Message {n}")) for n in range(5)]

    assert process_inbound_task(rows[2].pk) == Outcome.TICKET_CREATED

    assert all(fresh(r).outcome == Outcome.TICKET_CREATED for r in rows)
    assert process_inbound_task(rows[3].pk) == Outcome.TICKET_CREATED  # done already: nothing happens
    assert {fresh(r).attempts for r in rows} == {1}
    assert Ticket.objects.count() == 5


def test_a_batch_queues_one_acknowledgement_task_and_one_publishing_task(
    mailbox, monkeypatch, django_capture_on_commit_callbacks
):
    earlier = intake.inbound_process(store(raw_mail(message_id="<ack@consumer.example>"), mailbox).pk)
    acknowledged: list[list[int]] = []
    published: list[bool] = []
    monkeypatch.setattr(intake_tasks.send_acknowledgements_task, "delay", acknowledged.append)
    monkeypatch.setattr(ticket_tasks.publish_ticket_events_task, "delay", lambda: published.append(True))
    rows = [store(raw_mail(sender=f"p{n}@consumer.example"), mailbox) for n in range(3)]
    imported = store(raw_mail(sender="old@consumer.example"), mailbox)
    InboundMessage.objects.filter(pk=imported.pk).update(notify=False)
    reply = store(raw_mail(in_reply_to="<ack@consumer.example>", subject="Re: x"), mailbox)

    with django_capture_on_commit_callbacks(execute=True):
        intake.inbound_process_batch()

    assert fresh(reply).ticket_id == earlier.ticket_id
    assert acknowledged == [[fresh(r).ticket_id for r in rows]]  # not the import, not the reply
    assert published == [True]


def test_a_batch_opens_its_tickets_in_a_bounded_number_of_queries_and_writes_them_once(mailbox):
    policy(is_default=True)
    for n in range(20):
        store(raw_mail(sender=f"known{n}@consumer.example", subject=f"Question {n}"), mailbox)
    intake.inbound_process_batch(limit=1)  # the first one alone: its contact is new, caches are warm
    for n in range(1, 20):  # the senders are known contacts
        factories.contact(email=f"known{n}@consumer.example")

    with CaptureQueriesContext(connection) as queries:
        processed = intake.inbound_process_batch()

    assert len(processed) == 19
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) <= 30, "\n".join(statements)
    # The due dates are part of the insert: no new ticket is updated right after it was inserted.
    assert not [s for s in statements if s.startswith('UPDATE "tickets_ticket"')]
    tickets = Ticket.objects.filter(pk__in=[r.ticket_id for r in processed])
    assert all(t.sla_policy_id is not None and t.sla_due_at is not None for t in tickets)
    assert TicketSLAClock.objects.filter(ticket__in=tickets).count() == 2 * 19  # first response, resolution


def test_replies_in_one_batch_follow_the_rules_of_a_reply_alone(mailbox):
    policy(is_default=True)
    answered = intake.inbound_process(store(raw_mail(message_id="<a@consumer.example>"), mailbox).pk).ticket
    agent = factories.agent(teams=[mailbox.default_team])
    ticket_services.ticket_reply(
        ticket=answered, by=ticket_services.Actor.agent(agent), body_text="Any news?", status="pending"
    )
    waiting = intake.inbound_process(
        store(raw_mail(message_id="<b@consumer.example>", sender="bob@consumer.example"), mailbox).pk
    ).ticket
    rows = [
        store(raw_mail(in_reply_to="<a@consumer.example>", subject="Re: a", body="First answer"), mailbox),
        store(raw_mail(in_reply_to="<a@consumer.example>", subject="Re: a", body="And more"), mailbox),
        store(raw_mail(in_reply_to="<b@consumer.example>", subject="Re: b", sender="bob@consumer.example"), mailbox),
    ]

    intake.inbound_process_batch()

    assert [fresh(r).outcome for r in rows] == [Outcome.APPENDED] * 3
    answered.refresh_from_db()
    waiting.refresh_from_db()
    assert answered.status == "open"  # pending, reopened by the customer's reply (once)
    assert list(answered.events.filter(action="status").values_list("old_value", "new_value")) == [
        ("new", "pending"),
        ("pending", "open"),
    ]
    added = answered.events.filter(action="message_added", message__body_text__in=["First answer", "And more"])
    assert added.count() == 2
    assert answered.last_customer_message_at == fresh(rows[1]).message.created_at
    assert [m.body_text for m in answered.messages.order_by("id")][-2:] == ["First answer", "And more"]
    # The desk had answered: the customer now waits for the next response. Not so on the other ticket.
    assert TicketSLAClock.objects.filter(ticket=answered, target="next_response", state="running").count() == 1
    assert answered.next_response_due_at is not None and answered.sla_due_at is not None
    assert waiting.status == "new" and not TicketSLAClock.objects.filter(ticket=waiting, target="next_response")
    assert waiting.last_customer_message_at == fresh(rows[2]).message.created_at
