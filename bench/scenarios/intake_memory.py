"""Peak memory of one intake worker process on a message with a 20 MB attachment.

A message with a 20 MB attachment (about 28 MB of MIME) is stored first, then one fresh worker
process (Django set up, nothing else imported or cached) runs ``process_inbound_task`` on it:
parse, store the attachment file, create the ticket.
Its peak resident set (VmHWM) is printed; target under 250 MB. A second fresh process
stores the same bytes with ``inbound_store`` (what an IMAP or POP3 poll and the HTTP pipe do) and
its peak is printed too, as information.

``python -m bench intake_memory`` runs in seconds. ``tests/integration/test_intake_memory.py``
runs the same worker and fails above the target.

The worker is this module run as a script: ``python -m bench.scenarios.intake_memory process ID``
(or ``store PATH``), with ``DJANGO_SETTINGS_MODULE`` and ``DATABASE_URL`` from the environment; it
prints one JSON object.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
from email.utils import formatdate
from pathlib import Path
from typing import Any

from bench.registry import Context, Result

NAME = "intake_memory"
ATTACHMENT_BYTES = 20 * 1024 * 1024
TARGET_MEMORY_MB = 250.0
ROOT = Path(__file__).resolve().parents[2]


def large_message(*, message_id: str, attachment: bytes | None = None) -> bytes:
    """A plain customer mail with one attachment, by default 20 MB of random (incompressible) bytes.

    Written out directly (base64 in 76-character lines, as mail programs send it): the email
    package takes seconds to encode 20 MB.
    """
    content = os.urandom(ATTACHMENT_BYTES) if attachment is None else attachment
    boundary = b"=_memory-bench"  # "_" is not a base64 character
    head = [
        b"From: Big Sender <big.sender@memory-bench.example>",
        b"To: support@desk.example",
        b"Subject: A large log file",
        b"Date: " + formatdate().encode(),
        b"Message-ID: " + message_id.encode(),
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
        b"",
        b"--" + boundary,
        b'Content-Type: text/plain; charset="utf-8"',
        b"Content-Transfer-Encoding: 7bit",
        b"",
        b"Hello,\n\nthe log is attached.\n\nRegards",
        b"--" + boundary,
        b"Content-Type: application/zip",
        b"Content-Transfer-Encoding: base64",
        b'Content-Disposition: attachment; filename="log.zip"',
        b"",
        b"",
    ]
    return b"\n".join(head) + base64.encodebytes(content) + b"--" + boundary + b"--\n"


def run_worker(args: list[str], env: dict[str, str], *, timeout: float = 120.0) -> dict[str, Any]:
    """Run this module as a fresh worker process; its JSON report (``peak_mb``: the whole process's peak)."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.scenarios.intake_memory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"The memory worker failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _peak_mb() -> float:
    """This process's peak resident set: VmHWM, which starts afresh at exec.

    ``ru_maxrss`` does not: Linux carries the parent's peak at fork over into the child's, so a
    worker started by a big test or bench process would report its parent's memory.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _worker(command: str, argument: str) -> dict[str, Any]:
    import django

    django.setup()
    ready_mb = _peak_mb()
    if command == "process":
        from channels_intake.models import InboundMessage
        from channels_intake.tasks import process_inbound_task

        process_inbound_task(int(argument))  # the task's body, run here as a worker runs it
        row = InboundMessage.objects.get(pk=int(argument))
        report: dict[str, Any] = {"outcome": row.outcome, "reason": row.reason, "ticket_id": row.ticket_id}
    else:
        from channels_intake.services import inbound_store

        raw = Path(argument).read_bytes()
        row = inbound_store(raw=raw, source="file", queue=False)
        del raw
        report = {"inbound_id": row.pk}
    return {**report, "ready_mb": ready_mb, "peak_mb": _peak_mb()}


def _env() -> dict[str, str]:
    # bench.db.setup_django set these for this process; the worker starts from the same settings.
    keys = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "CELERY_BROKER_URL")
    return {**os.environ, **{key: os.environ[key] for key in keys if key in os.environ}}


def run(context: Context) -> list[Result]:
    from channels_intake.models import InboundMessage

    raw = large_message(message_id=f"<memory-bench-{os.getpid()}-{context.seed}@memory-bench.example>")
    size_mb = len(raw) / 1024 / 1024
    InboundMessage.objects.filter(dedupe_key__startswith="mid:<memory-bench-").delete()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.eml"
        path.write_bytes(raw)
        del raw
        stored = run_worker(["store", str(path)], _env())
    processed = run_worker(["process", str(stored["inbound_id"])], _env())
    InboundMessage.objects.filter(pk=stored["inbound_id"]).delete()
    peak = float(processed["peak_mb"])
    met = "met" if peak < TARGET_MEMORY_MB else "NOT met"
    return [
        Result(
            NAME,
            "process: peak worker RSS",
            peak,
            "MB",
            f"{size_mb:.0f} MB message, 20 MB attachment; {float(processed['ready_mb']):.0f} MB after setup; "
            f"{processed['outcome']}; target < {TARGET_MEMORY_MB:.0f} MB: {met}",
        ),
        Result(
            NAME,
            "store: peak worker RSS",
            float(stored["peak_mb"]),
            "MB",
            "inbound_store of the same bytes (poll / HTTP pipe); information, no target",
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(_worker(sys.argv[1], sys.argv[2])))
