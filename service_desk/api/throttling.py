"""Rate limits per token (or signed-in user) and per client IP, counted in the default cache (Redis).

Fixed one-window counters (``INCR`` on a key per window): O(1) per request whatever the rate, unlike
DRF's ``SimpleRateThrottle`` which stores every request time. Rates come from the settings
(``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, scopes ``token`` and ``ip``), e.g. ``"600/minute"``.
The answer over the limit is 429 with ``Retry-After`` (seconds until the window ends).
"""

from __future__ import annotations

import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"600/minute"`` -> (600, 60); None or empty: no limit."""
    if not rate:
        return None
    number, _, period = rate.partition("/")
    return int(number), _PERIODS[period.strip()[0].lower()]


# INCR, and EXPIRE on the window's first request: one command, atomic. The client and the script
# are made once per connection pool: building a redis-py client or pipeline (with its response
# callbacks) for every request cost more CPU than the round trip itself.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_counters: dict[int, tuple[object, object]] = {}


def _counter(backend: RedisCache):  # noqa: ANN202 - a redis-py Script bound to a client
    pool = backend._cache._get_connection_pool(True)
    known = _counters.get(id(pool))
    if known is None or known[0] is not pool:
        client = backend._cache._client(connection_pool=pool)
        known = _counters[id(pool)] = (pool, client.register_script(_COUNT_SCRIPT))
    return known[1]


def _count(key: str, ttl: int) -> int:
    """Count one request in the window ``key``: one round trip (INCR + EXPIRE in a script) with Redis."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full = backend.make_and_validate_key(key)
        return int(_counter(backend)(keys=[full], args=[ttl]))
    backend.add(key, 0, timeout=ttl)  # other caches (local memory in development)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=ttl)
        return 1


class _WindowThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self._wait = 0.0

    def rate(self) -> tuple[int, int] | None:
        return parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def ident(self, request, view) -> str | None:  # noqa: ANN001
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:  # noqa: ANN001
        rate = self.rate()
        ident = self.ident(request, view)
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        count = _count(f"api-throttle:{self.scope}:{ident}:{period}:{window}", period + 1)
        if count <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self._wait


class TokenRateThrottle(_WindowThrottle):
    """Per API token; a browser session counts per user."""

    scope = "token"

    def ident(self, request, view) -> str | None:  # noqa: ANN001
        token = getattr(request, "auth", None)
        if token is not None and getattr(token, "pk", None) is not None:
            return f"t{token.pk}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"u{user.pk}"
        return None


class IPRateThrottle(_WindowThrottle):
    """Per client address (``X-Forwarded-For`` only behind ``NUM_PROXIES`` trusted proxies)."""

    scope = "ip"

    def ident(self, request, view) -> str | None:  # noqa: ANN001
        return self.get_ident(request)
