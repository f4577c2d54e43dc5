"""Real-browser test support: the app served on a free port, and Debian's headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
# Set to a folder (e.g. docs/screenshots) to copy the screenshots there as well.
SCREENSHOTS_OUT = os.environ.get("TRIAGE_SCREENSHOTS_OUT", "")


def require_chromium() -> str:
    """Return Chromium's path; fail in CI, skip elsewhere, when it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is required in CI (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI and is missing at {CHROMIUM}")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


class LiveServer:
    """The app served by werkzeug in a thread, on a port the system picked."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and release the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def api(self, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
        """Call the JSON API over HTTP with an API key; return the status and decoded body."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a local http URL built above
            self.url + path,
            data=data,
            method=method,
            headers={"X-API-Key": key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the browser tests save their screenshots to."""
    return tmp_path_factory.mktemp("screenshots")


def shoot(page: Any, folder: Path, name: str) -> Path:
    """Save a full-page screenshot of page as folder/name.png (and to SCREENSHOTS_OUT if set)."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if SCREENSHOTS_OUT:
        Path(SCREENSHOTS_OUT).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(SCREENSHOTS_OUT) / path.name)
    return path


def log_in(page: Any, base: str, email: str, password: str) -> None:
    """Log in through the login form as a person would."""
    page.goto(base + "/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_load_state()
