"""Request ids, one JSON log line per request, and the Prometheus /metrics endpoint.

Per request this costs a perf_counter pair, one histogram observation and, when request logging
is on, one JSON line: no file or network I/O beyond the log line and prometheus_client's
memory-mapped files under gunicorn.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

from triage import auth, metrics
from triage.tables import Scope

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is kept only if it is short and harmless in logs; otherwise we make one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # fullmatch: "$" would allow a final newline
ACCESS_LOG = logging.getLogger("triage.access")
# Standard LogRecord attributes: everything else on a record is an extra field for the JSON line.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


# One encoder for every line: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line, with its extra fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__
        for key in fields.keys() - _RECORD_FIELDS:  # the extras, found by one set difference
            if not key.startswith("_"):
                line[key] = fields[key]
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _JSON.encode(line)


def configure_logging(level: str, stream: Any = None) -> None:
    """Send every log record to stderr (or stream) as JSON lines; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_triage_json", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._triage_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


def _request_id(environ: dict[str, Any]) -> str:
    rid = environ.get(_RID_KEY)
    if rid is None:
        given = environ.get("HTTP_X_REQUEST_ID")
        rid = given if given is not None and _REQUEST_ID.fullmatch(given) else os.urandom(8).hex()
        environ[_RID_KEY] = rid
    return rid


def request_id() -> str:
    """Return the id of the current request (the client's X-Request-ID if valid, else ours)."""
    return _request_id(request.environ)


# Kept in the WSGI environ rather than g: plain dict access, no context-local proxy per use.
_RID_KEY = "triage.request_id"
_STARTED_KEY = "triage.started"


def _start() -> None:
    environ = request.environ
    environ[_STARTED_KEY] = time.perf_counter()
    _request_id(environ)


def _finish(response: Response) -> Response:
    req = request._get_current_object()  # type: ignore[attr-defined] - one proxy lookup
    environ = req.environ
    started = environ.get(_STARTED_KEY)
    if started is None:  # a before_request hook failed before ours ran
        return response
    seconds = time.perf_counter() - started
    rule = req.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    status = response.status_code
    rid = _request_id(environ)
    response.headers[REQUEST_ID_HEADER] = rid
    metrics.record_request(route, req.method, status, seconds)
    if status == 429:
        metrics.record_rate_limited(route)
    if ACCESS_LOG.isEnabledFor(logging.INFO):
        principal = g.get("principal")
        # makeRecord + handle: the same record as .info() without its caller lookup.
        record = ACCESS_LOG.makeRecord(
            ACCESS_LOG.name,
            logging.INFO,
            __file__,
            0,
            "request",
            (),
            None,
            extra={
                "method": req.method,
                "path": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "request_id": rid,
                "api_key_id": principal.key_id if principal is not None else None,
                "pid": os.getpid(),
            },
        )
        ACCESS_LOG.handle(record)
    return response


class SlaStateCollector(Collector):
    """Open tickets at risk or breached, counted in the database when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        """Yield the gauge of open tickets per SLA state and priority."""
        from triage.queues import WORKABLE
        from triage.tables import Ticket

        family = GaugeMetricFamily(
            "triage_open_tickets_sla",
            "Workable tickets per SLA state and priority, read from the database at scrape.",
            labels=("sla_state", "priority"),
        )
        engine = self.app.extensions["triage"].engine
        query = (
            select(Ticket.sla_state, Ticket.priority, func.count())
            .where(Ticket.status.in_(WORKABLE))
            .group_by(Ticket.sla_state, Ticket.priority)
        )
        with engine.connect() as conn:
            for state, priority, count in conn.execute(query):
                family.add_metric((state.value, priority), count)
        yield family


def _metrics_allowed() -> bool:
    """Allow the METRICS_TOKEN bearer, or else an API key of scope data_staff (401/403)."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("utf-8", "replace"), str(token).encode("utf-8")
        ):
            return True
    auth.authenticate((Scope.DATA_STAFF,))
    return True


def metrics_view() -> Response:
    """Serve the metrics of every worker in Prometheus' text format (token or data_staff key)."""
    _metrics_allowed()
    extra = CollectorRegistry(auto_describe=False)
    extra.register(SlaStateCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
    return Response(metrics.exposition(extra), mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    """Add request ids, request metrics and logs, and GET /metrics to app."""
    log_json = app.config.get("LOG_JSON")
    if log_json or (log_json is None and not app.testing):
        configure_logging(str(app.config.get("LOG_LEVEL", "INFO")))
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
