"""Per-request cost of request logging, metrics and the rate limit, through Flask's test client.

Usage (from the repository root):

    .venv/bin/python bench/overhead.py [--requests 2000] [--rounds 5] [--redis redis://127.0.0.1:6379/0]

Builds one app per configuration on the same throw-away SQLite database (rules only, no model,
so the request itself is cheap and the differences show), then sends POST /api/v1/triage with
the same intake key through each app's test client in interleaved rounds and prints the median
time per request of each configuration and its difference from the bare one:

- bare: neither triage.observability nor triage.limits installed;
- observability: request id, latency histogram, one JSON log line per request (to a file);
- observability + limit (memory): plus the per-key rate limit counted in this process;
- observability + limit (redis): the same with counters in Redis (only with --redis).

Metrics are in prometheus_client's multiprocess mode (memory-mapped files), as under
``triage serve``. The limit is set high enough never to refuse.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="triage-bench-overhead-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(WORK / "prom")  # before prometheus_client loads
(WORK / "prom").mkdir()

from triage import create_app, db, observability  # noqa: E402
from triage.auth import create_api_key  # noqa: E402
from triage.migrations import upgrade  # noqa: E402
from triage.seed import seed_defaults  # noqa: E402
from triage.tables import Scope  # noqa: E402

BODY = {
    "subject": "Não consigo exportar o relatório",
    "description": "Olá, ao exportar o relatório mensal para CSV aparece um erro. Podem ajudar?",
}


def make_app(name: str, url: str, *, observe: bool, limit: str, storage: str | None):
    """Build an app with the given parts installed."""
    real_observe = observability.init_app
    if not observe:
        observability.init_app = lambda app: None
    try:
        app = create_app(
            {
                "TESTING": True,
                "LOG_JSON": False,
                "DATABASE_URL": url,
                "MODELS_DIR": str(WORK / "models"),
                "RATE_LIMIT_INTAKE": limit,
                "RATELIMIT_STORAGE_URI": storage,
                "RATELIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            }
        )
    finally:
        observability.init_app = real_observe
    app.name = name
    return app


def per_request_us(client, headers: dict[str, str], n: int) -> float:
    """Return the mean time of one POST /api/v1/triage in microseconds."""
    started = time.perf_counter()
    for _ in range(n):
        response = client.post("/api/v1/triage", json=BODY, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.get_data()[:200]}")
    return (time.perf_counter() - started) / n * 1e6


def _per_call_us(fn, n: int = 5000, rounds: int = 5) -> float:
    values = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        values.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(values)


def parts(apps, headers: dict[str, str], redis_url: str | None) -> dict[str, float]:
    """Time each per-request addition on its own, outside the request."""
    from triage import limits, metrics

    record = {
        "method": "POST",
        "path": "/api/v1/triage",
        "status": 200,
        "duration_ms": 1.234,
        "request_id": "0123456789abcdef",
        "api_key_id": 1,
        "pid": os.getpid(),
    }
    log = observability.ACCESS_LOG

    def log_line() -> None:
        log.handle(
            log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None, extra=record)
        )

    found = {
        "histogram observation (multiprocess mmap)": _per_call_us(
            lambda: metrics.record_request("/api/v1/triage", "POST", 200, 0.002)
        ),
        "one JSON access log line (format + write)": _per_call_us(log_line),
    }
    app = apps[0]
    with app.test_request_context("/api/v1/triage", method="POST"):
        from flask import Response, request

        response = Response("{}", mimetype="application/json")

        def hooks() -> None:
            request.environ.pop("triage.request_id", None)
            observability._start()
            observability._finish(response)

        log.setLevel(logging.WARNING)
        found["request hooks: id, timer, histogram (no log line)"] = _per_call_us(hooks)
        log.setLevel(logging.INFO)
        found["request hooks with the JSON log line"] = _per_call_us(hooks)
    stores = [("memory", "memory://")] + ([("redis", redis_url)] if redis_url else [])
    for name, uri in stores:
        lim = limits.IntakeLimiter(
            item=limits.parse("1000000/minute"),
            storage=limits._storage("triage-memory://" if uri == "memory://" else uri),
            prefix=f"bench-{uuid.uuid4().hex[:8]}",
        )
        n = 5000 if name == "memory" else 1000
        found[f"rate limit hit ({name})"] = _per_call_us(lambda lim=lim: lim.hit("key:1"), n=n)
    del headers
    return found


def main() -> None:
    """Run the rounds and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=None, help="also measure Redis storage at this URL")
    args = parser.parse_args()

    url = f"sqlite:///{WORK / 'triage.db'}"
    (WORK / "models").mkdir()
    # The access log goes to a file, as it would to a file or pipe under gunicorn.
    log_file = open(WORK / "access.log", "w", encoding="utf-8")  # noqa: SIM115
    observability.configure_logging("INFO", log_file)

    # name, observability installed, access log line written, rate limit, limit storage
    configs = [
        ("bare", False, False, "", None),
        ("request id + metrics, no log line", True, False, "", None),
        ("observability (with log line)", True, True, "", None),
        ("observability + limit (memory)", True, True, "1000000/minute", "memory://"),
    ]
    if args.redis:
        configs.append(("observability + limit (redis)", True, True, "1000000/minute", args.redis))
    apps = [make_app(c[0], url, observe=c[1], limit=c[3], storage=c[4]) for c in configs]
    writes_log = {c[0]: c[2] for c in configs}
    with apps[0].app_context():
        upgrade(db.engine())
        s = db.session()
        seed_defaults(s)
        _, key = create_api_key(s, name="bench", scope=Scope.INTAKE)
        s.commit()
    headers = {"X-API-Key": key}
    clients = [app.test_client() for app in apps]
    for client in clients:  # warm up: first requests load the catalog and fill caches
        per_request_us(client, headers, 200)

    times: dict[str, list[float]] = {app.name: [] for app in apps}
    for r in range(args.rounds):
        order = list(zip(apps, clients, strict=True))
        if r % 2:
            order.reverse()
        for app, client in order:
            observability.ACCESS_LOG.setLevel(
                logging.INFO if writes_log[app.name] else logging.WARNING
            )
            times[app.name].append(per_request_us(client, headers, args.requests))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    bare = statistics.median(times["bare"])
    print(
        f"\nPOST /api/v1/triage through the test client, {args.requests} requests x "
        f"{args.rounds} rounds, median per request (load average {os.getloadavg()[0]:.2f})"
    )
    print(f"{'configuration':<34}{'us/request':>12}{'vs bare (us)':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<34}{median:>12.1f}{median - bare:>+14.1f}")
    lines = sum(1 for _ in open(WORK / "access.log", encoding="utf-8"))
    print(f"\naccess log lines written: {lines}")
    observability.ACCESS_LOG.setLevel(logging.INFO)
    print("\nthe parts alone, median of 5 x 5000 calls (us per call):")
    for name, us in parts(apps, headers, args.redis).items():
        print(f"  {name:<52}{us:>8.1f}")
    for app in apps:
        app.extensions["triage"].engine.dispose()
    logging.getLogger().handlers.clear()
    log_file.close()


if __name__ == "__main__":
    main()
