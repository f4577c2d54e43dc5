"""API keys and user passwords: keys are stored hashed and checked against the route's scopes."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g, request
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from triage import db
from triage.errors import ApiError
from triage.tables import ApiKey, Role, Scope, User

KEY_PREFIX = "trg_"
_KEY_HOLDER = "triage.key_holder"  # WSGI environ key: this request's verified key holder
# Built once and run on a pooled connection, not the request's ORM session: per request, building
# the select and opening and closing a session cost more than the lookup itself (bench/api.py).
_KEY_LOOKUP = select(ApiKey.id, ApiKey.scope, ApiKey.user_id, ApiKey.revoked_at).where(
    ApiKey.key_hash == bindparam("key_hash")
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key (and the user it belongs to, if any)."""

    key_id: int
    scope: Scope
    user_id: int | None

    @property
    def actor(self) -> str:
        """Return how events name this caller."""
        return f"user:{self.user_id}" if self.user_id else f"apikey:{self.key_id}"


def hash_key(key: str) -> str:
    """Return the stored form of a key (keys are random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(
    s: Session, *, name: str, scope: Scope, user: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return its row and the plain key, which is never stored or shown again."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=plain[:12], key_hash=hash_key(plain), scope=scope, user=user)
    s.add(row)
    s.flush()
    return row, plain


def revoke_api_key(s: Session, key_id: int, *, now: datetime) -> ApiKey | None:
    """Revoke a key by id; returns None when there is no such key."""
    row = s.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    return row


def _presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(scopes: tuple[Scope, ...]) -> Principal:
    """Return the caller of this request if its key is valid and its scope allowed, else 401/403."""
    # The rate limit's hook authenticates before the view does: the key is checked once per
    # request (kept in the request's environ, which no other request shares), the scope every time.
    principal = request.environ.get(_KEY_HOLDER)
    if principal is None:
        principal = request.environ[_KEY_HOLDER] = _key_holder()
    if principal.scope not in scopes:
        raise ApiError(
            403,
            "forbidden",
            f"A key of scope '{principal.scope.value}' may not do this; needs one of: "
            + ", ".join(s.value for s in scopes),
        )
    g.principal = principal
    return principal


def _key_holder() -> Principal:
    """Return who holds the presented key if it is valid (scope not checked), else 401."""
    key = _presented_key()
    if not key:
        raise ApiError(401, "unauthorized", "Send an API key in the X-API-Key header.")
    if len(key) > 200 or not key.isascii():
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    principal = _valid_key(hash_key(key))
    if principal is None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    return principal


# Keys found valid, per engine (so per app) in this worker: key hash -> (checked at, principal).
# Kept CATALOG_TTL_SECONDS, like the rest of the per-worker configuration, so a revoked key is
# refused by every worker at most that long after revocation (at once with 0, as in the tests).
# Unknown and revoked keys are never kept: they always ask the database.
_VERIFIED: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, Principal]]] = (
    weakref.WeakKeyDictionary()
)
_VERIFIED_LOCK = threading.Lock()
_VERIFIED_MAX = 1024  # far more keys than an installation has; past it the cache starts over


def _valid_key(key_hash: str) -> Principal | None:
    """Return who holds the key with this hash if it exists and is not revoked, else None."""
    engine = db.engine()
    ttl = float(current_app.config["CATALOG_TTL_SECONDS"])
    cache = _VERIFIED.get(engine)
    if ttl > 0 and cache is not None:
        hit = cache.get(key_hash)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
    with engine.connect() as conn:
        row = conn.execute(_KEY_LOOKUP, {"key_hash": key_hash}).first()
    if row is None or row.revoked_at is not None:
        if cache is not None:
            cache.pop(key_hash, None)
        return None
    principal = Principal(key_id=row.id, scope=row.scope, user_id=row.user_id)
    if ttl > 0:
        if cache is None:
            with _VERIFIED_LOCK:
                cache = _VERIFIED.setdefault(engine, {})
        if len(cache) >= _VERIFIED_MAX:
            cache.clear()
        cache[key_hash] = (time.monotonic(), principal)
    return principal


def create_user(s: Session, *, email: str, name: str, password: str, role: Role) -> User:
    """Create a user with a hashed password."""
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    user = User(
        email=email.strip().lower(),
        name=name,
        role=role,
        password_hash=generate_password_hash(password),
    )
    s.add(user)
    s.flush()
    return user


def check_password(user: User, password: str) -> bool:
    """Tell whether password is the user's."""
    return user.active and check_password_hash(user.password_hash, password)
