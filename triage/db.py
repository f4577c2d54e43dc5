"""The database: one engine per app, one session per request or command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def database_url(app: Flask) -> str:
    """Return the configured URL, defaulting to a SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return url
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path) / 'triage.db'}"


def with_search_path(url: str, schema: str) -> str:
    """Return a PostgreSQL URL whose connections work in schema (tests and benchmarks)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def make_engine(
    url: str, *, busy_timeout_ms: int = 10_000, ping_idle_seconds: float = 2.0
) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys on every connection;
    other databases test a connection that sat idle for ping_idle_seconds before reuse."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=5, max_overflow=10)
    _ping_when_idle(engine, ping_idle_seconds)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only when it sat idle for idle_seconds or more.

    A connection in steady use needs no round trip of its own (under load, pinging every
    checkout cost one in five of a ticket creation's round trips); one left idle across a
    database restart is found dead here and replaced before the request sees it. A connection
    that dies while busy fails its request with 503 and SQLAlchemy drops the whole pool, so the
    next requests connect afresh.
    """

    @event.listens_for(engine, "checkin")
    def _mark_used(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # just connected, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(f"idle connection is gone: {exc}") from exc


class Database:
    """Flask extension holding the engine and session factory of each app."""

    def init_app(self, app: Flask) -> None:
        """Create the engine for app and close the request session on teardown."""
        engine = make_engine(
            database_url(app),
            busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
            ping_idle_seconds=float(app.config["DB_PING_IDLE_SECONDS"]),
        )
        state = app.extensions["triage"]
        state.engine = engine
        state.sessions = sessionmaker(engine, expire_on_commit=False)
        app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """Return the current app's engine."""
    return current_app.extensions["triage"].engine


def session() -> Session:
    """Return the session of the current request or app context, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["triage"].sessions()
    return g.db_session


@contextmanager
def fresh_session() -> Iterator[Session]:
    """Open a session outside the request one, closed on exit (background work, sweeps)."""
    s = current_app.extensions["triage"].sessions()
    try:
        yield s
    finally:
        s.close()


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        try:
            s.close()
        except DBAPIError:
            # The database went away after the answer was decided (a restart right after a
            # commit): closing rolls back over a dead connection. Drop it rather than turn a
            # stored ticket's 201 into a 500 (tests/test_faults.py).
            s.invalidate()


db = Database()
