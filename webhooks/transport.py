"""Sending one signed webhook POST: SSRF-checked, pinned to the checked address, redirects by hand.

No proxy from the environment is used (urllib3 pools never read HTTP_PROXY), the connection goes
to the IP address that was checked (the host name is only sent as the Host header and, for
https, as the TLS server name and the name the certificate must match), and every redirect's
Location is checked like a new URL before it is followed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError

from webhooks import targets
from webhooks.domain import ssrf
from webhooks.domain.retry import is_redirect, is_success
from webhooks.domain.ssrf import IPAddress, Target, UnsafeURL

RESPONSE_EXCERPT_BYTES = 2048


@dataclass(frozen=True)
class AttemptResult:
    status: int | None  # the final HTTP status, None if no response came
    body: str  # the first bytes of the final response, decoded leniently
    error: str  # empty on success
    duration_ms: int
    url: str  # the URL that answered last

    @property
    def ok(self) -> bool:
        return self.status is not None and is_success(self.status) and not self.error


@dataclass(frozen=True)
class _Response:
    status: int
    location: str | None
    body: bytes


def _pool(target: Target, address: IPAddress, timeout: float, ca_certs: str | None) -> urllib3.HTTPConnectionPool:
    options: dict = {
        "port": target.port,
        "timeout": urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            str(address),
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,  # None: the system's trust store
            # SNI and certificate check against the name, not the pinned address.
            server_hostname=None if target.ip_literal is not None else target.host,
            assert_hostname=target.host,
            **options,
        )
    return urllib3.HTTPConnectionPool(str(address), **options)


def _post_once(
    target: Target,
    addresses: list[IPAddress],
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    ca_certs: str | None,
) -> _Response:
    """POST to the first checked address that accepts a connection."""
    last_error: Exception | None = None
    for address in addresses:
        pool = _pool(target, address, timeout, ca_certs)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": target.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
            )
            try:
                excerpt = response.read(RESPONSE_EXCERPT_BYTES, decode_content=False)
                return _Response(response.status, response.headers.get("Location"), excerpt)
            finally:
                response.close()
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            last_error = exc  # not reachable on this address: try the next checked one
        finally:
            pool.close()
    raise last_error or UnsafeURL("unresolvable", "no address to connect to")


def _text(raw: bytes) -> str:
    """Bytes from a receiver as storable text (PostgreSQL text cannot hold NUL)."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _describe(exc: BaseException) -> str:
    return _text(f"{type(exc).__name__}: {exc}".encode())[:1000]


def post_signed(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float = 10.0,
    max_redirects: int = 3,
    ca_certs: str | None = None,
) -> AttemptResult:
    """POST ``body`` with ``headers`` to ``url``; follows up to ``max_redirects`` redirects, each checked."""
    started = time.monotonic()
    current = url

    def result(status: int | None, raw: bytes, error: str) -> AttemptResult:
        return AttemptResult(
            status=status,
            body=_text(raw),
            error=_text(error.encode()),
            duration_ms=int((time.monotonic() - started) * 1000),
            url=current,
        )

    try:
        target, addresses = targets.check_url(url)
    except UnsafeURL as exc:
        return result(None, b"", f"Refused: {exc}")
    for hop in range(max_redirects + 1):
        current = target.url
        try:
            response = _post_once(target, addresses, body, headers, timeout, ca_certs)
        except (HTTPError, OSError) as exc:
            return result(None, b"", _describe(exc))
        if not is_redirect(response.status):
            error = "" if is_success(response.status) else f"HTTP {response.status}"
            return result(response.status, response.body, error)
        if hop == max_redirects:
            return result(response.status, response.body, f"Too many redirects (more than {max_redirects})")
        try:
            target = ssrf.resolve_location(target, response.location or "", require_https=targets.require_https())
            addresses = targets.check_target(target)
        except UnsafeURL as exc:
            return result(response.status, response.body, f"Redirect refused: {exc}")
    raise AssertionError("unreachable")  # pragma: no cover
