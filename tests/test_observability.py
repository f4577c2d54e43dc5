"""Request ids, one JSON log line per request, and Prometheus metrics behind authentication."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.conftest import Keys
from triage import create_app, db, observability
from triage.catalog import load_catalog
from triage.cli import fresh_metrics_dir
from triage.sweep import sweep
from triage.tables import utcnow

ROOT = Path(__file__).resolve().parent.parent
TICKET = {
    "subject": "Sistema fora do ar",
    "description": "Ninguém da equipe consegue acessar o painel desde as 9h.",
}


def sample(name: str, **labels: str) -> float:
    """Return a metric's value in this process (0 when it has not been recorded yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def access_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "triage.access"]


# --- request ids ------------------------------------------------------------------------------


def test_every_response_carries_a_generated_request_id(client):
    first = client.get("/api/v1/health").headers["X-Request-ID"]
    second = client.get("/api/v1/health").headers["X-Request-ID"]
    assert len(first) == 16 and int(first, 16) >= 0
    assert first != second


def test_a_valid_client_request_id_is_echoed_also_on_errors(client):
    response = client.get("/api/v1/tickets/1", headers={"X-Request-ID": "form-42.abc:1"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "form-42.abc:1"


@pytest.mark.parametrize(
    "given",
    ["x" * 65, "has space", "quote\"'", "é-accent", "a\tb", "<script>"],
)
def test_an_unsafe_client_request_id_is_replaced(client, given):
    rid = client.get("/api/v1/health", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert rid != given and len(rid) == 16


# --- the access log -------------------------------------------------------------------------------


def test_one_log_line_per_request_with_route_template_and_key_id_never_the_key(
    app, client, keys, caplog
):
    caplog.set_level(logging.INFO, logger="triage.access")
    response = client.get(
        "/api/v1/tickets/999999", headers={**Keys.header(keys.agent), "X-Request-ID": "abc-1"}
    )
    assert response.status_code == 404
    [record] = access_records(caplog)
    line = json.loads(observability.JsonFormatter().format(record))
    assert line["msg"] == "request"
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/tickets/<int:ticket_id>"  # the template, not /999999
    assert line["status"] == 404
    assert line["request_id"] == "abc-1"
    assert line["pid"] == os.getpid()
    assert line["duration_ms"] > 0
    assert isinstance(line["api_key_id"], int)
    text = observability.JsonFormatter().format(record)
    assert keys.agent not in text and keys.agent[4:20] not in text


def test_unauthenticated_and_unknown_routes_are_logged_without_a_key(client, caplog):
    caplog.set_level(logging.INFO, logger="triage.access")
    client.get("/api/v1/tickets")
    client.get("/no/such/page")
    first, second = access_records(caplog)
    assert (first.status, first.api_key_id, first.path) == (401, None, "/api/v1/tickets")
    assert (second.status, second.path) == (404, "<unmatched>")


def test_json_logging_is_configured_outside_tests_and_leaves_caplog_working(
    template_db, tmp_path, tiny_models_dir, caplog
):
    root = logging.getLogger()
    level = root.level
    app = create_app(
        {
            "TESTING": True,
            "LOG_JSON": True,
            "DATABASE_URL": template_db.fresh_url(tmp_path),
            "MODELS_DIR": str(tiny_models_dir),
            "RATE_LIMIT_INTAKE": "",
        }
    )
    try:
        [handler] = [h for h in root.handlers if getattr(h, "_triage_json", False)]
        stream = io.StringIO()
        handler.setStream(stream)
        caplog.set_level(logging.INFO, logger="triage.access")
        app.test_client().get("/api/v1/health", headers={"X-Request-ID": "r-1"})
        line = json.loads(stream.getvalue().strip().splitlines()[-1])
        assert line["path"] == "/api/v1/health" and line["request_id"] == "r-1"
        assert line["level"] == "info" and line["status"] == 200
        assert [r.request_id for r in access_records(caplog)] == ["r-1"]  # caplog still sees it
    finally:
        for h in [h for h in root.handlers if getattr(h, "_triage_json", False)]:
            root.removeHandler(h)
        root.setLevel(level)
        app.extensions["triage"].engine.dispose()


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_need_a_data_staff_key(client, keys):
    denied = client.get("/metrics")
    assert denied.status_code == 401 and denied.get_json()["error"] == "unauthorized"
    assert client.get("/metrics", headers=Keys.header(keys.intake)).status_code == 403
    assert client.get("/metrics", headers=Keys.header(keys.agent)).status_code == 403
    ok = client.get("/metrics", headers=Keys.header(keys.data_staff))
    assert ok.status_code == 200 and ok.mimetype == "text/plain"
    assert b"triage_http_request_duration_seconds_bucket" in ok.data


def test_metrics_accept_the_configured_bearer_token_only(app, client, keys):
    app.config["METRICS_TOKEN"] = "s3cret-token-for-prometheus"
    good = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token-for-prometheus"})
    assert good.status_code == 200
    wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token-for-prometheusX"})
    assert wrong.status_code == 401
    assert client.get("/metrics", headers=Keys.header(keys.data_staff)).status_code == 200


def test_request_latency_is_counted_by_route_template_method_and_status_class(client, keys):
    labels = {"route": "/api/v1/tickets/<int:ticket_id>", "method": "GET", "status": "4xx"}
    before = sample("triage_http_request_duration_seconds_count", **labels)
    client.get("/api/v1/tickets/123456", headers=Keys.header(keys.agent))
    client.get("/api/v1/tickets/654321", headers=Keys.header(keys.agent))
    assert sample("triage_http_request_duration_seconds_count", **labels) == before + 2
    text = client.get("/metrics", headers=Keys.header(keys.data_staff)).get_data(as_text=True)
    assert 'route="/api/v1/tickets/<int:ticket_id>"' in text
    assert "/123456" not in text


def test_predictions_are_counted_by_target_label_and_source(client, keys, active_model):
    decision = client.post("/api/v1/triage", json=TICKET, headers=Keys.header(keys.intake))
    body = decision.get_json()
    counted = {}
    for target in ("priority", "category"):
        label, source = body[target]["value"], body[target]["source"].split(":")[0]
        counted[target] = (label, source)
    before = {
        t: sample("triage_predictions_total", target=t, label=lbl, source=src)
        for t, (lbl, src) in counted.items()
    }
    created = client.post("/api/v1/tickets", json=TICKET, headers=Keys.header(keys.intake))
    assert created.status_code == 201
    for target, (label, source) in counted.items():
        assert source in ("model", "rule", "matrix", "default")
        after = sample("triage_predictions_total", target=target, label=label, source=source)
        assert after == before[target] + 1
    assert body["priority"]["source"].startswith("rule:")  # "fora do ar": the outage rule


def test_corrections_are_counted_per_field(client, keys, active_model):
    ticket = client.post("/api/v1/tickets", json=TICKET, headers=Keys.header(keys.intake))
    tid = ticket.get_json()["id"]
    before = sample("triage_corrections_total", target="category")
    before_priority = sample("triage_corrections_total", target="priority")
    new = "billing" if ticket.get_json()["category"] != "billing" else "access"
    patched = client.patch(
        f"/api/v1/tickets/{tid}",
        json={"category": new, "status": "open", "reason": "wrong category"},
        headers=Keys.header(keys.agent),
    )
    assert patched.status_code == 200, patched.get_json()
    assert sample("triage_corrections_total", target="category") == before + 1
    assert sample("triage_corrections_total", target="priority") == before_priority


def test_sla_breaches_are_counted_and_open_breaches_shown(app, client, keys):
    for _ in range(2):
        assert (
            client.post(
                "/api/v1/tickets", json=TICKET, headers=Keys.header(keys.intake)
            ).status_code
            == 201
        )
    before = sample("triage_sla_breaches_total")
    with app.app_context():
        s = db.session()
        later = utcnow() + timedelta(days=60)
        report = sweep(s, load_catalog(s, later), later, notify=lambda *_: None)
    assert report.breached == 2
    assert sample("triage_sla_breaches_total") == before + 2
    text = client.get("/metrics", headers=Keys.header(keys.data_staff)).get_data(as_text=True)
    breached = [
        line
        for line in text.splitlines()
        if line.startswith("triage_open_tickets_sla{") and 'sla_state="breached"' in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in breached) == 2


def test_the_model_version_each_worker_serves_is_a_gauge(client, keys, active_model):
    client.post("/api/v1/triage", json=TICKET, headers=Keys.header(keys.intake))
    assert sample("triage_model_serving", target="category", version=active_model) == 1
    text = client.get("/metrics", headers=Keys.header(keys.data_staff)).get_data(as_text=True)
    assert f'triage_model_serving{{target="priority",version="{active_model}"}} 1.0' in text


# --- several worker processes ---------------------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import sys
    from triage import metrics, serving
    metrics.record_request("/api/v1/triage", "POST", 200, 0.004)
    metrics.record_models_serving(serving.ServingModels())
    """
)
_SCRAPE = "import sys; from triage import metrics; sys.stdout.write(metrics.exposition().decode())"


def _python(code: str, folder: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder))
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_metrics_of_several_worker_processes_add_up_and_dead_workers_drop_out(tmp_path):
    folder = tmp_path / "prom"
    folder.mkdir()
    for _ in range(2):
        _python(_WORKER, folder)
    text = _python(_SCRAPE, folder).stdout
    count = (
        "triage_http_request_duration_seconds_count"
        '{method="POST",route="/api/v1/triage",status="2xx"}'
    )
    assert f"{count} 2.0" in text
    gauges = [line for line in text.splitlines() if line.startswith("triage_model_serving{")]
    assert len(gauges) == 4  # two targets in two worker processes (pid label)
    pids = {line.split('pid="')[1].split('"')[0] for line in gauges}
    for pid in pids:
        _python(f"from triage import metrics; metrics.mark_worker_dead({pid})", folder)
    text = _python(_SCRAPE, folder).stdout
    assert not [line for line in text.splitlines() if line.startswith("triage_model_serving{")]
    assert f"{count} 2.0" in text  # counters outlive the workers that counted


def test_serve_starts_from_an_emptied_metrics_folder(tmp_path):
    env: dict[str, str] = {}
    folder = Path(fresh_metrics_dir(env, str(tmp_path / "instance")))
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(folder) and folder.is_dir()
    (folder / "counter_123.db").write_bytes(b"old")
    (folder / "keep.txt").write_text("not ours")
    fresh_metrics_dir(env, str(tmp_path / "instance"))
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_unknown_http_methods_share_one_label(client):
    labels = {"route": "<unmatched>", "method": "OTHER", "status": "4xx"}
    before = sample("triage_http_request_duration_seconds_count", **labels)
    for method in ("FOO", "BAR-1"):
        assert client.open("/api/v1/health", method=method).status_code == 405
    assert sample("triage_http_request_duration_seconds_count", **labels) == before + 2
    assert not sample(
        "triage_http_request_duration_seconds_count",
        route="<unmatched>",
        method="FOO",
        status="4xx",
    )
