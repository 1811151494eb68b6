"""Real servers on 127.0.0.1 for integration tests: an SMTP server (aiosmtpd) and an IMAP server (Dovecot)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REQUIRE_REAL_SERVERS = os.environ.get("SERVICE_DESK_REQUIRE_REAL_SERVERS") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _unavailable(reason: str) -> None:
    if REQUIRE_REAL_SERVERS:
        pytest.fail(f"{reason} (SERVICE_DESK_REQUIRE_REAL_SERVERS=1: CI must provide it)")
    pytest.skip(reason)


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1; Django's SMTP backend pointed at it."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield handler
    finally:
        controller.stop()


DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u/Maildir
first_valid_uid = 1
default_internal_user = imaptest
default_internal_group = imaptest
default_login_user = imaptest
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
"""


class Dovecot:
    def __init__(self, root: Path, port: int, uid: int, gid: int) -> None:
        self.root, self.port, self.uid, self.gid = root, port, uid, gid
        self.user, self.password = "agent@desk.example", "secret"

    def maildir(self):  # noqa: ANN201
        import mailbox

        (self.root / "mail" / self.user).mkdir(parents=True, exist_ok=True)
        return mailbox.Maildir(self.root / "mail" / self.user / "Maildir", create=True)

    def deliver(self, raw: bytes) -> None:
        box = self.maildir()
        box.add(raw)
        for path in (self.root / "mail").rglob("*"):
            os.chown(path, self.uid, self.gid)

    def count(self, folder: str = "INBOX") -> int:
        from imap_tools import MailBoxUnencrypted

        with MailBoxUnencrypted("127.0.0.1", self.port).login(self.user, self.password, initial_folder=folder) as box:
            return len(box.uids())


@pytest.fixture(scope="session")
def dovecot():
    """A real Dovecot IMAP server on a free local port with one user and an empty Maildir."""
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None:
        _unavailable("Dovecot is not installed (apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        _unavailable("Dovecot tests start the server as root")
    try:
        user = pwd.getpwnam("imaptest")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "imaptest"], check=True)  # noqa: S603, S607
        user = pwd.getpwnam("imaptest")
    # Directly under /tmp: pytest's own temp folder is private to root, and Dovecot's
    # unprivileged processes must reach their configuration and mail.
    root = Path(tempfile.mkdtemp(prefix="service-desk-dovecot-"))
    port = free_port()
    (root / "dovecot.conf").write_text(DOVECOT_CONF.format(d=root, port=port, uid=user.pw_uid, gid=user.pw_gid))
    (root / "users").write_text("agent@desk.example:{PLAIN}secret\n")
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    process = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")])  # noqa: S603
    try:  # whatever happens from here on, the server is stopped again
        if not _wait_for_port(port):
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            pytest.fail(f"Dovecot did not start on port {port}: {log[-2000:]}")
        server = Dovecot(root, port, user.pw_uid, user.pw_gid)
        server.maildir()
        for path in (root / "mail").rglob("*"):
            os.chown(path, user.pw_uid, user.pw_gid)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_own_addresses():
    """The intake caches our own addresses per process; each test starts from its own database."""
    from channels_intake.services import forget_own_addresses

    forget_own_addresses()
    yield
    forget_own_addresses()
