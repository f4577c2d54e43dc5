"""triage: ML-assisted support ticket triage as a Flask service."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask


@dataclass
class TriageState:
    """Per-app state, kept in app.extensions["triage"]."""

    engine: Any = None
    sessions: Any = None
    catalog: Any = None
    models: Any = None
    thresholds: dict[str, float] = field(default_factory=dict)
    rate_limiter: Any = None  # triage.limits.IntakeLimiter when RATE_LIMIT_INTAKE is set


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, instance config, TRIAGE_* environment, then test mapping."""
    from triage import errors, limits, observability
    from triage.api import bp as api_bp
    from triage.api.stateless import ApiAwareSessionInterface, hooks_off_api
    from triage.catalog import CatalogCache
    from triage.config import DefaultConfig
    from triage.db import db
    from triage.serving import ModelServer

    app = Flask(
        __name__,
        instance_path=os.environ.get("TRIAGE_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("TRIAGE")
    if test_config:
        app.config.from_mapping(test_config)

    state = TriageState()
    app.extensions["triage"] = state
    db.init_app(app)
    state.catalog = CatalogCache(float(app.config["CATALOG_TTL_SECONDS"]))
    state.models = ModelServer(
        Path(app.config["MODELS_DIR"]),
        float(app.config["MODEL_RELOAD_SECONDS"]),
        sessions=state.sessions if app.config["MODEL_WATCHER"] and not app.testing else None,
    )
    state.thresholds = {
        "priority": float(app.config["REVIEW_THRESHOLD_PRIORITY"]),
        "category": float(app.config["REVIEW_THRESHOLD_CATEGORY"]),
    }
    errors.register(app)
    app.register_blueprint(api_bp)
    # The API is stateless: no cookie session is opened or saved on /api/ (the admin keeps its).
    app.session_interface = ApiAwareSessionInterface()
    observability.init_app(app)  # before limits: its timer also sees requests refused with 429
    limits.init_app(app)

    if app.config.get("WORKER_ID_HEADER"):
        _add_worker_id_header(app)

    from triage.cli import register_commands

    register_commands(app)

    from admin import init_admin  # the one import from triage into admin: composing the app

    with hooks_off_api(app):  # the admin's request hooks do not run on /api/
        init_admin(app)
    return app


def _add_worker_id_header(app: Flask) -> None:
    """Name the serving process in each response (tests of multi-worker model reloads)."""

    @app.after_request
    def worker_id(response):  # type: ignore[no-untyped-def]
        response.headers["X-Triage-Worker"] = str(os.getpid())
        return response
