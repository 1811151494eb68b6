"""Two intake workers claiming batches at the same time: real threads, each with its own PostgreSQL
connection and transactions (no test transaction around them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction

from channels_intake import services as intake
from channels_intake.models import InboundMessage, Outcome, Source
from tests.integration.mail import raw_mail
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def _start(job: Callable[[], Any], results: dict[str, Any], name: str) -> threading.Thread:
    def run() -> None:
        try:
            results[name] = job()
        except BaseException as exc:  # reported to the test
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def _store(count: int, *, senders: int = 3) -> list[int]:
    return [
        intake.inbound_store(
            raw=raw_mail(sender=f"person{n % senders}@consumer.example", subject=f"Question {n}"),
            source=Source.HTTP,
            queue=False,
        ).pk
        for n in range(count)
    ]


def test_a_second_worker_skips_the_rows_a_busy_worker_holds_without_waiting(monkeypatch):
    ids = _store(6)
    holding, release = threading.Event(), threading.Event()
    process_rows = intake._process_rows

    def held(rows, **kwargs):
        if threading.current_thread().name == "busy":
            holding.set()
            release.wait(30)
        process_rows(rows, **kwargs)

    monkeypatch.setattr(intake, "_process_rows", held)
    results: dict[str, Any] = {}
    busy = _start(lambda: [r.pk for r in intake.inbound_process_batch(limit=3)], results, "busy")
    assert holding.wait(30)
    other = _start(lambda: [r.pk for r in intake.inbound_process_batch()], results, "other")
    other.join(30)
    assert not other.is_alive(), "the second worker waited for the first one's rows"
    release.set()
    busy.join(30)

    assert sorted(results["busy"]) == ids[:3]
    assert sorted(results["other"]) == ids[3:]
    assert Ticket.objects.count() == 6


def test_two_workers_draining_the_queue_process_every_message_exactly_once(monkeypatch):
    ids = _store(40)
    process = intake._process

    def slow(row):
        time.sleep(0.005)  # the two workers' batches overlap
        return process(row)

    monkeypatch.setattr(intake, "_process", slow)

    def drain() -> list[int]:
        done = []
        while rows := intake.inbound_process_batch(limit=4):
            done += [r.pk for r in rows]
        return done

    results: dict[str, Any] = {}
    threads = [_start(drain, results, name) for name in ("first", "second")]
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()
    first, second = results["first"], results["second"]

    assert not isinstance(first, BaseException) and not isinstance(second, BaseException), (first, second)
    assert first and second  # both took part
    assert not set(first) & set(second)
    assert sorted(first + second) == ids
    rows = InboundMessage.objects.filter(pk__in=ids)
    assert {(r.outcome, r.attempts) for r in rows} == {(Outcome.TICKET_CREATED, 1)}
    assert len({r.ticket_id for r in rows}) == 40
    assert Ticket.objects.count() == Message.objects.count() == 40
    # Both workers met the same three new senders: one contact each.
    assert Ticket.objects.values("requester").distinct().count() == 3


def test_three_workers_claiming_small_batches_in_a_tight_loop_leave_nothing_behind():
    """Claims racing each other: a claim can hold, for a moment, rows another claim just took."""
    ids = _store(150, senders=150)

    def drain() -> list[int]:
        done = []
        while rows := intake.inbound_process_batch(limit=2):
            done += [r.pk for r in rows]
        return done

    results: dict[str, Any] = {}
    threads = [_start(drain, results, name) for name in ("first", "second", "third")]
    for thread in threads:
        thread.join(180)
        assert not thread.is_alive()
    done = [pk for name in ("first", "second", "third") for pk in results[name]]

    assert sorted(done) == ids  # each exactly once, and none left
    assert not InboundMessage.objects.filter(outcome=Outcome.PENDING).exists()
    assert set(InboundMessage.objects.values_list("attempts", flat=True)) == {1}


def test_a_reply_to_a_ticket_another_worker_holds_is_given_back_instead_of_waited_for(monkeypatch):
    first = intake.inbound_process(
        intake.inbound_store(raw=raw_mail(message_id="<held@consumer.example>"), source=Source.HTTP, queue=False).pk
    )
    reply = intake.inbound_store(
        raw=raw_mail(in_reply_to="<held@consumer.example>", subject="Re: x"), source=Source.HTTP, queue=False
    )
    other = intake.inbound_store(raw=raw_mail(sender="ann@consumer.example"), source=Source.HTTP, queue=False)
    queued: list[int] = []
    monkeypatch.setattr(intake, "_queue_processing", queued.append)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # an agent's change, or another batch, holding the ticket
        with transaction.atomic():
            Ticket.objects.select_for_update().get(pk=first.ticket_id)
            holding.set()
            release.wait(30)

    results: dict[str, Any] = {}
    holder = _start(hold, results, "holder")
    assert holding.wait(30)
    worker = _start(lambda: [r.pk for r in intake.inbound_process_batch()], results, "worker")
    worker.join(30)
    assert not worker.is_alive(), "the batch waited for the held ticket"
    release.set()
    holder.join(30)

    assert results["worker"] == [other.pk]
    given_back = InboundMessage.objects.get(pk=reply.pk)
    assert (given_back.outcome, given_back.attempts, given_back.processed_at) == (Outcome.PENDING, 0, None)
    assert InboundMessage.objects.get(pk=other.pk).outcome == Outcome.TICKET_CREATED
    assert queued == [reply.pk]  # queued again after commit

    assert [r.pk for r in intake.inbound_process_batch()] == [reply.pk]
    placed = InboundMessage.objects.get(pk=reply.pk)
    assert (placed.outcome, placed.ticket_id, placed.attempts) == (Outcome.APPENDED, first.ticket_id, 1)
