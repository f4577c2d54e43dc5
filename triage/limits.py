"""Per-API-key rate limit on the intake routes, counted in Redis when configured, else in memory.

``RATE_LIMIT_INTAKE`` (e.g. "600/minute"; empty or "off" disables it) is one budget per API key
shared by ``POST /api/v1/triage`` and ``POST /api/v1/tickets``. A refused request gets 429 in the
API's error shape with ``Retry-After``. Counters (fixed windows) live in ``RATELIMIT_STORAGE_URI``
or else ``REDIS_URL``, so every worker and host shares them, and in the worker's memory when
neither is set (no network round trip). If Redis stops answering, the worker counts in memory
for ``STORAGE_RETRY_SECONDS`` and then tries Redis again, instead of failing requests.

The counting is the ``limits`` library's (the engine under Flask-Limiter) called directly from
one ``before_request`` hook: Flask-Limiter's own hooks ran on every route and re-resolved and
re-parsed the limits on every request, which cost several times the budget this hook has
(bench/overhead.py).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from triage import auth
from triage.errors import ApiError, error_response

log = logging.getLogger(__name__)

INTAKE_ENDPOINTS = frozenset({"api.triage_preview", "api.create_ticket"})
STORAGE_RETRY_SECONDS = 30.0
PURGE_SECONDS = 1.0
# A Redis that hangs must not hang intake: give up on it fast and count in memory.
REDIS_TIMEOUT_SECONDS = 0.5


class WorkerMemoryStorage(MemoryStorage):
    """limits' memory storage, purging expired counters inline at most once a second.

    The stock one starts a new timer thread 10 ms after any hit whose timer has finished, which
    under steady traffic means a thread start every few requests. Expired counters are already
    ignored on read; the purge only bounds memory. (Overrides a private hook: if limits renames
    it, the stock behaviour simply comes back.)
    """

    STORAGE_SCHEME = ["triage-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()
        self._next_purge = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides the private hook
        now = time.time()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


@dataclass
class IntakeLimiter:
    """One app's intake budget: the limit, where it is counted, and the memory fallback."""

    item: RateLimitItem
    storage: Storage
    prefix: str
    primary: RateLimiter = field(init=False)
    fallback: RateLimiter | None = field(init=False)
    down_until: float = 0.0

    def __post_init__(self) -> None:
        self.primary = FixedWindowRateLimiter(self.storage)
        local = isinstance(self.storage, MemoryStorage)
        self.fallback = None if local else FixedWindowRateLimiter(WorkerMemoryStorage())

    def hit(self, who: str) -> tuple[bool, float]:
        """Spend one request of who's budget; return (allowed, seconds until the window resets)."""
        limiter = self.primary
        if self.fallback is not None and time.monotonic() < self.down_until:
            limiter = self.fallback
        try:
            allowed = limiter.hit(self.item, self.prefix, who)
        except self.storage.base_exceptions as exc:
            if limiter is not self.primary or self.fallback is None:
                raise
            log.warning(
                "rate limit storage unreachable (%s); counting in memory for %.0f s",
                exc.__class__.__name__,
                STORAGE_RETRY_SECONDS,
            )
            self.down_until = time.monotonic() + STORAGE_RETRY_SECONDS
            limiter = self.fallback
            allowed = limiter.hit(self.item, self.prefix, who)
        if allowed:
            return True, 0.0
        reset = limiter.get_window_stats(self.item, self.prefix, who).reset_time
        return False, reset - time.time()


def storage_uri(app: Flask) -> str:
    """Return where counters are kept: RATELIMIT_STORAGE_URI, else REDIS_URL, else memory."""
    uri = app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL") or "memory://"
    return "triage-memory://" if uri == "memory://" else uri


def _storage(uri: str) -> Storage:
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return storage_from_string(
            uri,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
    return storage_from_string(uri)


def _too_many(item: RateLimitItem, seconds: float) -> Response:
    retry = max(1, math.ceil(seconds))
    response = error_response(
        429,
        "rate_limited",
        f"Too many requests for this API key (limit {item}); retry after {retry} s.",
    )
    response.headers["Retry-After"] = str(retry)
    return response


def init_app(app: Flask) -> None:
    """Limit the intake routes of app per API key, unless RATE_LIMIT_INTAKE is empty or off."""
    rate = str(app.config.get("RATE_LIMIT_INTAKE") or "").strip()
    if not rate or rate.lower() in ("off", "none", "0"):
        return
    limiter = IntakeLimiter(
        item=parse(rate),
        storage=_storage(storage_uri(app)),
        prefix=str(app.config.get("RATELIMIT_KEY_PREFIX") or "triage") + ":intake",
    )
    app.extensions["triage"].rate_limiter = limiter

    @app.before_request
    def _limit_intake() -> Response | None:
        if request.endpoint not in INTAKE_ENDPOINTS:
            return None
        view = current_app.view_functions[request.endpoint]
        refused: ApiError | None = None
        try:
            who = f"key:{auth.authenticate(view.required_scopes).key_id}"
        except ApiError as exc:
            # Unknown keys spend the address's budget, so guessing keys is limited too.
            who, refused = f"addr:{request.remote_addr or 'unknown'}", exc
        allowed, reset_in = limiter.hit(who)
        if not allowed:
            return _too_many(limiter.item, reset_in)
        if refused is not None:
            raise refused
        return None
