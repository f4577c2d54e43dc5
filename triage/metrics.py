"""Prometheus metrics of the service, shared by every gunicorn worker through multiprocess files.

The metrics are created once, at import. When ``PROMETHEUS_MULTIPROC_DIR`` is set (``triage
serve`` sets it) prometheus_client keeps each value in a memory-mapped file per worker and the
``/metrics`` view adds the files up; without it (tests, the CLI) values live in this process.
This module imports no Flask, so domain modules can record what they did with one call.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess

if TYPE_CHECKING:
    from triage.schemas import DecisionOut
    from triage.serving import ServingModels

TARGETS = ("priority", "category")

REQUEST_SECONDS = Histogram(
    "triage_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status class.",
    ("route", "method", "status"),
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PREDICTIONS = Counter(
    "triage_predictions_total",
    "Triage decisions per field, by the label decided and its source "
    "(model, rule, matrix or default); previews count too.",
    ("target", "label", "source"),
)
CORRECTIONS = Counter(
    "triage_corrections_total",
    "Agents' corrections of a decided field (priority or category).",
    ("target",),
)
SLA_BREACHES = Counter(
    "triage_sla_breaches_total",
    "Tickets the SLA sweep marked breached (counted by the process that ran the sweep).",
)
RATE_LIMITED = Counter(
    "triage_rate_limited_total",
    "Requests refused with 429 by the per-API-key rate limit, by route template.",
    ("route",),
)
MODEL_SERVING = Gauge(
    "triage_model_serving",
    "1 for the model version each worker serves per target (version none: rules only).",
    ("target", "version"),
    multiprocess_mode="liveall",
)

_serving: dict[str, str] = {}
_serving_lock = threading.Lock()


def multiprocess_dir() -> str | None:
    """Return the folder of the per-worker metric files, or None in a single process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# Labelled children by (route, method, status class), so a request skips labels()'s checks.
_request_children: dict[tuple[str, str, int], Any] = {}
# Any token is a valid HTTP method: others are counted as OTHER, so clients cannot add series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration."""
    key = (route, method if method in _METHODS else "OTHER", status // 100)
    child = _request_children.get(key)
    if child is None:
        child = REQUEST_SECONDS.labels(key[0], key[1], f"{key[2]}xx")
        _request_children[key] = child
    child.observe(seconds)


# Labelled children by (target, label, source kind): labels are the configured priorities and
# categories, so the dict stays small.
_decision_children: dict[tuple[str, str, str], Any] = {}


def record_decision(decision: DecisionOut) -> None:
    """Count one decision's priority and category, with the kind of source that set each."""
    for target, field in (("priority", decision.priority), ("category", decision.category)):
        if field.value is not None:
            key = (target, field.value, field.source.split(":", 1)[0])
            child = _decision_children.get(key)
            if child is None:
                child = _decision_children[key] = PREDICTIONS.labels(*key)
            child.inc()


def record_correction(target: str) -> None:
    """Count an agent's correction of target ("priority" or "category")."""
    CORRECTIONS.labels(target).inc()


def record_sla_breaches(count: int) -> None:
    """Count tickets the SLA sweep marked breached."""
    if count:
        SLA_BREACHES.inc(count)


def record_rate_limited(route: str) -> None:
    """Count a request refused by the rate limit."""
    RATE_LIMITED.labels(route).inc()


def record_models_serving(snapshot: ServingModels) -> None:
    """Publish which version of each target this worker serves ("none": rules only)."""
    wanted = {target: snapshot.version(target) or "none" for target in TARGETS}
    with _serving_lock:
        if wanted == _serving:
            return
        for target, version in _serving.items():
            if wanted.get(target) != version:
                MODEL_SERVING.labels(target, version).set(0)
        for target, version in wanted.items():
            MODEL_SERVING.labels(target, version).set(1)
        _serving.clear()
        _serving.update(wanted)


def exposition(extra: CollectorRegistry | None = None) -> bytes:
    """Return the metrics of every worker (or of this process) in the text exposition format."""
    folder = multiprocess_dir()
    if folder is None:
        from prometheus_client import REGISTRY

        text = generate_latest(REGISTRY)
    else:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=folder)
        text = generate_latest(registry)
    if extra is not None:
        text += generate_latest(extra)
    return text


def mark_worker_dead(pid: int) -> None:
    """Drop the live gauges of a worker that exited (gunicorn's child_exit hook)."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(pid)
