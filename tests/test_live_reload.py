"""Live reload: every gunicorn worker swaps to a newly activated version, with no failed request."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Keys

RELOAD_SECONDS = 1.0
# The stated bound: the reload interval, plus loading the version, plus slack for a busy machine.
SWAP_BOUND_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(port: int, method: str, path: str, key: str, body: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"X-API-Key": key, "Connection": "close"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheader("X-Triage-Worker"), data
    finally:
        conn.close()


@pytest.fixture
def server(app, keys: Keys, active_model, tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "TRIAGE_DATABASE_URL": app.config["DATABASE_URL"],
        "TRIAGE_MODELS_DIR": app.config["MODELS_DIR"],
        "TRIAGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "TRIAGE_MODEL_RELOAD_SECONDS": str(RELOAD_SECONDS),
        "TRIAGE_WORKER_ID_HEADER": "true",
        "TRIAGE_SECRET_KEY": "live-reload-test",
        "TRIAGE_RATE_LIMIT_INTAKE": "",
    }
    triage_bin = Path(sys.executable).with_name("triage")
    log = (tmp_path / "server.log").open("w+b")
    proc = subprocess.Popen(
        [
            str(triage_bin),
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = _request(port, "GET", "/api/v1/health", keys.intake)
                if status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError("server did not start: " + log.read().decode()[-2000:])
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_every_worker_swaps_to_a_new_version_without_a_failed_request(
    server, keys: Keys, active_model, second_version
):
    port = server
    results: list[tuple[float, int, str | None, str | None]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                status, worker, data = _request(
                    port,
                    "POST",
                    "/api/v1/triage",
                    keys.intake,
                    {
                        "subject": f"Erro {n}-{i}",
                        "description": "O sistema caiu ao salvar a fatura.",
                    },
                )
                version = (
                    json.loads(data)["model_versions"].get("category") if status == 200 else None
                )
            except OSError as exc:
                status, worker, version = -1, None, repr(exc)
            with lock:
                results.append((time.monotonic(), status, worker, version))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(3.0)
    status, _, body = _request(
        port,
        "POST",
        f"/api/v1/models/{second_version}/activate",
        keys.data_staff,
        {"reason": "live reload test"},
    )
    assert status == 200, body
    activated_at = time.monotonic()
    time.sleep(SWAP_BOUND_SECONDS + 2.0)
    stop.set()
    for t in threads:
        t.join(timeout=15)

    failed = [r for r in results if r[1] != 200]
    assert failed == [], failed[:5]
    before = [r for r in results if r[0] < activated_at]
    after = [r for r in results if r[0] >= activated_at]
    assert {r[3] for r in before} == {active_model}
    workers = {r[2] for r in after}
    assert len(workers) >= 2, "both workers must have served requests after the activation"
    swap_times = {}
    for worker in workers:
        served = [r for r in after if r[2] == worker]
        old = [r[0] for r in served if r[3] != second_version]
        swap_times[worker] = (max(old) - activated_at) if old else 0.0
        # Once a worker serves the new version, it never goes back.
        last_old = max(old) if old else activated_at
        assert all(r[3] == second_version for r in served if r[0] > last_old)
        assert any(r[3] == second_version for r in served)
    slowest = max(swap_times.values())
    print(
        f"\nlive reload: {len(results)} requests, {len(failed)} failed, "
        f"{len(workers)} workers, all on the new version {slowest:.2f} s after activation "
        f"(per worker: {', '.join(f'{v:.2f}' for v in swap_times.values())})"
    )
    assert slowest <= SWAP_BOUND_SECONDS
