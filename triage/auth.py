"""API keys and user passwords: keys are stored hashed and checked against the route's scopes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from triage import db
from triage.errors import ApiError
from triage.tables import ApiKey, Role, Scope, User

KEY_PREFIX = "trg_"


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
    key = _presented_key()
    if not key:
        raise ApiError(401, "unauthorized", "Send an API key in the X-API-Key header.")
    if len(key) > 200 or not key.isascii():
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    row = (
        db.session()
        .execute(
            select(ApiKey.id, ApiKey.scope, ApiKey.user_id, ApiKey.revoked_at).where(
                ApiKey.key_hash == hash_key(key)
            )
        )
        .first()
    )
    if row is None or row.revoked_at is not None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    if row.scope not in scopes:
        raise ApiError(
            403,
            "forbidden",
            f"A key of scope '{row.scope.value}' may not do this; needs one of: "
            + ", ".join(s.value for s in scopes),
        )
    principal = Principal(key_id=row.id, scope=row.scope, user_id=row.user_id)
    g.principal = principal
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
