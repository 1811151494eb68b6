"""`manage.py ingest_email FILE...`: import raw mail from files, Maildirs, mbox files or stdin (`-`).

Every message is stored first, then processed in this process through the same pipeline the
workers use. `--json` prints one object whose last five counts always add up to `received`.
`--no-notify` (imports, migrations) stores and processes the mail but sends nobody an
acknowledgement for it: the choice is stored on each message, so it holds even if a worker ends up
processing one (a crash of this command leaves it to the stranded-message sweep).
"""

from __future__ import annotations

import json
import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels_intake.models import InboundMessage, Mailbox, Source
from channels_intake.services import inbound_process, inbound_store, summarize


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _looks_like_mbox(path: Path) -> bool:
    """An mbox starts with a "From " envelope line (a single raw message never does)."""
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_raw_messages(source: str) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) for each message in a file, Maildir, folder of files, mbox, or '-' (stdin)."""
    if source == "-":
        yield "stdin", sys.stdin.buffer.read()
        return
    path = Path(source)
    if not path.exists():
        raise CommandError(f"{source}: no such file or directory.")
    if _is_maildir(path):
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.iterkeys()):
            yield f"{source}:{key}", box.get_bytes(key)
    elif path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from iter_raw_messages(str(child))
    elif _looks_like_mbox(path):
        box = mailbox.mbox(path, factory=None, create=False)
        for index, key in enumerate(box.iterkeys()):
            yield f"{source}#{index + 1}", box.get_bytes(key)
    else:
        yield source, path.read_bytes()


def _store(raw: bytes, name: str, box: Mailbox | None, *, notify: bool) -> InboundMessage:
    """Store one message; without ``notify`` the flag is committed together with the row."""
    with transaction.atomic():
        row = inbound_store(raw=raw, source=Source.FILE, mailbox=box, remote_id=name, queue=False)
        if not notify:
            InboundMessage.objects.filter(pk=row.pk).update(notify=False)
            row.notify = False
    return row


class Command(BaseCommand):
    help = (
        "Import raw email (files, Maildirs, mbox files, or - for stdin) through the intake pipeline. "
        "New tickets are acknowledged to the sender by email, as for live mail, unless --no-notify is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sources", nargs="+", help="Files, Maildir folders, mbox files, folders of files, or -.")
        parser.add_argument("--mailbox", help="Name of the mailbox the mail belongs to (default team, type).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the counts at the end.")
        parser.add_argument(
            "--no-notify",
            action="store_false",
            dest="notify",
            help="For imports and migrations: store and process the mail as usual, but send the senders "
            "no acknowledgement for these messages.",
        )

    def handle(self, *args: object, **options: object) -> None:
        box = None
        if options["mailbox"]:
            box = Mailbox.objects.filter(name=options["mailbox"]).first()
            if box is None:
                raise CommandError(f"No mailbox named {options['mailbox']!r}.")
        rows: list[InboundMessage] = []
        as_json = bool(options["json"])
        notify = bool(options["notify"])
        for source in options["sources"]:  # type: ignore[attr-defined]
            for name, raw in iter_raw_messages(str(source)):
                row = _store(raw, name, box, notify=notify)
                if row.is_original:
                    row = inbound_process(row.pk)
                rows.append(row)
                if not as_json:
                    detail = f" ({row.reason})" if row.reason else ""
                    ticket = f" {row.ticket.reference}" if row.ticket_id else ""
                    self.stdout.write(f"{name}: {row.get_outcome_display()}{ticket}{detail}")
        counts = summarize(rows)
        if as_json:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(", ".join(f"{key}: {value}" for key, value in counts.items()))
