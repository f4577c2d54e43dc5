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


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, instance config, TRIAGE_* environment, then test mapping."""
    from triage import errors
    from triage.api import bp as api_bp
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
        Path(app.config["MODELS_DIR"]), float(app.config["MODEL_RELOAD_SECONDS"])
    )
    state.thresholds = {
        "priority": float(app.config["REVIEW_THRESHOLD_PRIORITY"]),
        "category": float(app.config["REVIEW_THRESHOLD_CATEGORY"]),
    }
    errors.register(app)
    app.register_blueprint(api_bp)

    from triage.cli import register_commands

    register_commands(app)
    return app
