"""Real servers on 127.0.0.1 for integration tests: an SMTP server (aiosmtpd) and an IMAP and POP3 server (Dovecot)."""

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
protocols = {protocols}
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
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
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
{pop3}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
"""


# POP3 (dovecot-pop3d): a plain port (with STLS when TLS is on) and an SSL/TLS port. The UIDL is
# the IMAP UID and UIDVALIDITY, as Dovecot recommends.
DOVECOT_POP3 = """
pop3_uidl_format = %08Xu%08Xv
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
"""
DOVECOT_SSL = """ssl = yes
ssl_cert = <{d}/tls/cert.pem
ssl_key = <{d}/tls/key.pem"""
POP3_BINARIES = (Path("/usr/lib/dovecot/pop3"), Path("/usr/libexec/dovecot/pop3"))


def _self_signed_certificate(folder: Path) -> Path | None:
    """A certificate for 127.0.0.1 (the CA file a test client trusts), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    folder.mkdir()
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
    ]  # fmt: skip
    if subprocess.run(command, capture_output=True, check=False).returncode != 0:  # noqa: S603
        return None
    return folder / "cert.pem"


class Dovecot:
    def __init__(self, root: Path, port: int, uid: int, gid: int) -> None:
        self.root, self.port, self.uid, self.gid = root, port, uid, gid
        self.user, self.password = "agent@desk.example", "secret"
        self.pop3_port: int | None = None  # None: dovecot-pop3d is not installed
        self.pop3s_port: int | None = None  # None: no TLS (openssl missing)
        self.cafile: Path | None = None  # the certificate to trust for TLS
        self.imaps_port: int | None = None  # None: no TLS

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
    """A real Dovecot IMAP server (and POP3, with dovecot-pop3d) on free local ports with one user and an
    empty Maildir; TLS (STARTTLS, POP3 over SSL) with a self-signed certificate for 127.0.0.1."""
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None:
        _unavailable("Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
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
    cafile = _self_signed_certificate(root / "tls")
    with_pop3 = any(path.exists() for path in POP3_BINARIES)
    pop3_port, pop3s_port = (free_port(), free_port() if cafile else 0) if with_pop3 else (None, None)
    imaps_port = free_port() if cafile else 0
    (root / "dovecot.conf").write_text(
        DOVECOT_CONF.format(
            d=root,
            port=port,
            imaps_port=imaps_port,
            uid=user.pw_uid,
            gid=user.pw_gid,
            protocols="imap pop3" if with_pop3 else "imap",
            ssl=DOVECOT_SSL.format(d=root) if cafile else "ssl = no",
            pop3=DOVECOT_POP3.format(port=pop3_port, ssl_port=pop3s_port) if with_pop3 else "",
        )
    )
    (root / "users").write_text("agent@desk.example:{PLAIN}secret\n")
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    process = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")])  # noqa: S603
    try:  # whatever happens from here on, the server is stopped again
        for listening in (port, imaps_port, pop3_port, pop3s_port):
            if listening and not _wait_for_port(listening):
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start on port {listening}: {log[-2000:]}")
        server = Dovecot(root, port, user.pw_uid, user.pw_gid)
        server.pop3_port, server.pop3s_port, server.cafile = pop3_port, pop3s_port or None, cafile
        server.imaps_port = imaps_port or None
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


@pytest.fixture
def dovecot_pop3(dovecot):
    """The session's Dovecot, which must speak POP3 too."""
    if dovecot.pop3_port is None:
        _unavailable("Dovecot's POP3 server is not installed (apt-get install dovecot-pop3d)")
    return dovecot


@pytest.fixture(autouse=True)
def _fresh_own_addresses():
    """The intake caches our own addresses per process; each test starts from its own database."""
    from channels_intake.services import forget_own_addresses

    forget_own_addresses()
    yield
    forget_own_addresses()
