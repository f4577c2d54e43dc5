"""The API is stateless: its requests carry API keys, never the admin's cookie session or hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

API_PREFIX = "/api/"


class ApiAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session for the admin; a null session on /api/ routes.

    Opening the cookie session builds a signing serializer and parses cookies on every request,
    and saving it runs again on the way out; an API request needs neither. A null session reads
    as empty and refuses writes, so nothing on the API can start depending on a cookie.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Return a null session for API requests, else the signed-cookie session."""
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)  # type: ignore[return-value]
        return super().open_session(app, request)


def _skipping_api(hook: Callable[..., Any], passes_response: bool) -> Callable[..., Any]:
    @wraps(hook)
    def hook_off_api(*args: Any) -> Any:
        if request.path.startswith(API_PREFIX):
            return args[0] if passes_response else None
        return hook(*args)

    return hook_off_api


@contextmanager
def hooks_off_api(app: Flask) -> Iterator[None]:
    """Make the app-wide request hooks registered inside the block skip /api/ requests.

    The admin's extensions (Flask-Login's remember-cookie refresh, the admin's security headers)
    hook every request of the app; an API request has no cookie session and no HTML, so they
    would only cost it time.
    """
    before = list(app.before_request_funcs.get(None, ()))
    after = list(app.after_request_funcs.get(None, ()))
    yield
    if None in app.before_request_funcs:
        app.before_request_funcs[None] = [
            f if f in before else _skipping_api(f, passes_response=False)
            for f in app.before_request_funcs[None]
        ]
    if None in app.after_request_funcs:
        app.after_request_funcs[None] = [
            f if f in after else _skipping_api(f, passes_response=True)
            for f in app.after_request_funcs[None]
        ]
