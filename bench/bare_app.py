"""The floor for any Flask service around the triage model: parse JSON, predict, return labels.

bench/api.py serves this with gunicorn using the same worker settings as `triage serve` and
compares the real service against it. It loads the same model version, from the same models
folder, with `triage.model_store.load_version`, and makes the same prediction the service makes
per ticket: `triage.classifier.predict` for every target, with explanations. No database, no
API key, no validation, no rules, no SLA: everything the service adds is missing on purpose.

Run by hand (from the repository root):

    BENCH_MODELS_DIR=models BENCH_MODEL_VERSION=<version> .venv/bin/gunicorn \
        --pythonpath bench --worker-class gthread --workers 2 --threads 4 'bare_app:create_app()'

then `POST /predict` a ticket body such as {"subject": "...", "description": "..."}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from triage.classifier import predict
from triage.model_store import load_version


def ticket_record(data: dict[str, Any]) -> dict[str, Any]:
    """Return the classifier record the service builds for an intake body (TicketFacts.record)."""
    return {
        "subject": data["subject"].strip(),
        "description": data["description"].strip(),
        "customer_tier": data.get("tier"),
        "channel": data.get("channel") or "api",  # the service's TicketInput default
        "stated_urgency": data.get("stated_urgency"),
        "impact": data.get("impact"),
        "language": data.get("language"),
    }


def create_app(models_dir: str | None = None, version: str | None = None) -> Flask:
    """Build the bare app around one model version (BENCH_MODELS_DIR, BENCH_MODEL_VERSION)."""
    models_dir = models_dir or os.environ["BENCH_MODELS_DIR"]
    version = version or os.environ["BENCH_MODEL_VERSION"]
    # Loaded at start-up; the service loads lazily on its first request, which warm-up covers.
    model = load_version(Path(models_dir), version)
    pipelines = model.pipelines

    app = Flask(__name__)

    @app.get("/health")
    def health() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    @app.post("/predict")
    def predict_labels() -> Response:
        record = ticket_record(json.loads(request.get_data()))
        labels = {target: predict(p, [record])[0].label for target, p in pipelines.items()}
        return Response(json.dumps(labels), mimetype="application/json")

    return app
