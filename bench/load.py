"""`make load`: the production server on PostgreSQL under mixed locust load, then a loss check.

Usage (from the repository root; needs the `load` extra, i.e. locust):

    .venv/bin/python bench/load.py [--duration 60] [--users 30] [--user-rps 10]
        [--workers 2] [--threads 4] [--rate-limit 1000000/minute]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json out.json]

What it does:
1. Makes a throw-away instance (temporary folder) on PostgreSQL in a schema of its own, runs
   `triage setup` there (schema, defaults, the demo model, an intake and an agent key).
2. Starts `triage serve` (gunicorn, gthread workers, JSON request log to a file, metrics in
   multiprocess mode) on a free 127.0.0.1 port.
3. Runs bench/locustfile.py headless for --duration seconds with --users users, each aiming at
   --user-rps requests per second (70% previews, 20% creations with Idempotency-Key and some
   retries, 10% reads and corrections), and prints throughput, p50/p95/p99 and errors per kind
   of request and overall.
4. Checks every ticket acknowledged with 201 is in the database exactly once (by id and
   Idempotency-Key), that each retry returned the first ticket, and that no Idempotency-Key
   made two tickets.
The server is stopped and the schema dropped in every case. The intake rate limit stays on (its
cost is part of the figures) at --rate-limit, far above the load, so it refuses nothing.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import PostgresSchema, Server, free_port, group_cpu_seconds, process_stats  # noqa: E402
from api import run_setup as api_setup  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_RPS, TARGET_P99_MS = 300, 100
METRICS_TOKEN = "load-test-metrics-token"  # noqa: S105 - a throw-away server's scrape token


def scraped_requests(port: int) -> float:
    """Return the API requests all workers counted, from GET /metrics (multiprocess mode)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("triage_http_request_duration_seconds_count{")
        and "/api/v1/ready" not in line
    )


def run_setup(env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """Run `triage setup` (as bench/api.py does); return the intake and agent keys it prints."""
    intake, _, output = api_setup(env, cwd)
    agent = re.search(r"agent API key\s+(\S+)", output)
    if agent is None:
        raise RuntimeError(f"triage setup printed no agent key:\n{output}")
    return intake, agent.group(1)


def postgres_cpu_seconds() -> float:
    """Return the CPU time of the PostgreSQL processes on this machine, ended backends included.

    A backend that exits adds its time to the postmaster's children's time (cutime, cstime),
    so the difference between two readings covers connections opened and closed in between.
    """
    total = sum(
        sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        for name, fields in process_stats()
        if name == "postgres"
    )
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """Return the CPU time of this process's ended children (the locust run, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def check_stored(database_url: str, acked: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare what clients were told (201 and replays) with the tickets table."""
    from sqlalchemy import create_engine, text

    created = {row["key"]: row["id"] for row in acked if row["status"] == 201}
    replays_wrong = sum(
        1 for row in acked if row["status"] == 200 and created.get(row["key"]) != row["id"]
    )
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, idempotency_key FROM tickets WHERE idempotency_key LIKE 'load-%'")
            ).all()
            duplicated_keys = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT api_key_id, idempotency_key FROM tickets "
                    "WHERE idempotency_key IS NOT NULL GROUP BY api_key_id, idempotency_key "
                    "HAVING count(*) > 1) d"
                )
            ).scalar_one()
            total = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
    finally:
        engine.dispose()
    stored = {key: tid for tid, key in rows}
    missing = [k for k, tid in created.items() if stored.get(k) != tid]
    return {
        "acknowledged_201": len(created),
        "replays": sum(1 for row in acked if row["status"] == 200),
        "replays_not_the_first_ticket": replays_wrong,
        "stored_with_load_keys": len(stored),
        "tickets_in_database": total,
        "acknowledged_missing": len(missing),
        "idempotency_keys_with_two_tickets": duplicated_keys,
        "stored_not_acknowledged": len(set(stored) - set(created)),
    }


def main(argv: list[str] | None = None) -> int:
    """Set up, serve, load, check; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--user-rps", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate-limit", default="1000000/minute")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if shutil.which("locust", path=str(VENV_BIN)) is None:
        parser.error("locust is not installed: .venv/bin/pip install -e '.[load]'")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="triage-load-"))
    server: Server | None = None
    pg: PostgresSchema | None = None
    try:
        pg = PostgresSchema(args.database_url)
        env = dict(os.environ)
        env.update(
            TRIAGE_INSTANCE_PATH=str(workdir / "instance"),
            TRIAGE_MODELS_DIR=str(workdir / "models"),
            TRIAGE_DATABASE_URL=pg.url,
            TRIAGE_RATE_LIMIT_INTAKE=args.rate_limit,
            TRIAGE_METRICS_TOKEN=METRICS_TOKEN,
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        print(f"instance {workdir}; PostgreSQL schema {pg.schema}", flush=True)
        print("running `triage setup` (trains the demo model) ...", flush=True)
        intake_key, agent_key = run_setup(env, workdir)

        port = free_port()
        server = Server(
            "triage serve",
            [
                str(VENV_BIN / "triage"),
                "serve",
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
            ],
            env,
            workdir / "service.log",
        )
        server.wait_ready(port, "/api/v1/ready")
        print(f"serving on {HOST}:{port} ({args.workers} workers x {args.threads} threads)")

        prefix = workdir / "locust"
        acks = workdir / "acknowledged.jsonl"
        load_env = dict(
            env,
            LOAD_INTAKE_KEY=intake_key,
            LOAD_AGENT_KEY=agent_key,
            LOAD_ACK_FILE=str(acks),
            LOAD_USER_RPS=str(args.user_rps),
        )
        load_before = os.getloadavg()
        cpu_before = group_cpu_seconds(server.proc.pid)
        pg_before, locust_before = postgres_cpu_seconds(), children_cpu_seconds()
        print(
            f"locust: {args.users} users x {args.user_rps} req/s for {args.duration} s; "
            f"load average before {load_before[0]:.2f}",
            flush=True,
        )
        proc = subprocess.run(  # noqa: S603 - fixed arguments
            [
                str(VENV_BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.users),
                "--run-time",
                f"{args.duration}s",
                "--host",
                f"http://{HOST}:{port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--stop-timeout",
                "10",
                "--loglevel",
                "WARNING",
            ],
            env=load_env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=args.duration + 120,
        )
        load_after = os.getloadavg()
        server_cpu = group_cpu_seconds(server.proc.pid) - cpu_before
        pg_cpu = postgres_cpu_seconds() - pg_before
        locust_cpu = children_cpu_seconds() - locust_before
        if not prefix.with_name("locust_stats.csv").exists():
            raise RuntimeError(f"locust failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        stats = read_stats(prefix)
        acked = [json.loads(line) for line in acks.read_text(encoding="utf-8").splitlines()]
        check = check_stored(pg.url, acked)
        counted = scraped_requests(port)

        print(
            f"\n{'request':<24}{'count':>8}{'fail':>6}{'req/s':>8}{'p50':>7}{'p95':>7}"
            f"{'p99':>7}  (ms)"
        )
        total: dict[str, str] = {}
        for row in stats:
            if row["Name"] == "Aggregated":
                total = row
            print(
                f"{row['Name']:<24}{row['Request Count']:>8}{row['Failure Count']:>6}"
                f"{float(row['Requests/s']):>8.1f}{row['50%']:>7}{row['95%']:>7}"
                f"{row['99%']:>7}"
            )
        rps, p99 = float(total["Requests/s"]), float(total["99%"])
        errors = int(total["Failure Count"])
        print(
            f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
            "(2 shared cores; locust runs on the same machine)"
        )
        for name, value in check.items():
            print(f"{name.replace('_', ' '):<36}{value}")
        print(
            f"{'requests counted by /metrics':<36}{counted:.0f} (locust sent "
            f"{total['Request Count']}, all workers added up)"
        )
        cpu_ms = server_cpu * 1000 / max(1, int(total["Request Count"]))
        print(
            f"{'server CPU per request':<36}{cpu_ms:.2f} ms (all workers; 2 idle cores would "
            f"serve about {2000 / cpu_ms:.0f} req/s of this mix without the load generator)"
        )
        per_request = {
            "PostgreSQL CPU per request": pg_cpu * 1000 / max(1, int(total["Request Count"])),
            "locust CPU per request": locust_cpu * 1000 / max(1, int(total["Request Count"])),
        }
        for name, value in per_request.items():
            print(f"{name:<36}{value:.2f} ms")
        failures = workdir / "locust_failures.csv"
        if errors and failures.exists():
            print("\nfailures:\n" + failures.read_text(encoding="utf-8")[:2000])
        lost = check["acknowledged_missing"] + check["idempotency_keys_with_two_tickets"]
        lost += check["replays_not_the_first_ticket"]
        verdict = {
            f"throughput >= {TARGET_RPS} req/s": rps >= TARGET_RPS,
            f"p99 < {TARGET_P99_MS} ms": p99 < TARGET_P99_MS,
            "zero errors": errors == 0,
            "zero lost or duplicated": lost == 0,
        }
        print()
        for name, ok in verdict.items():
            print(f"{'PASS' if ok else 'MISS'}  {name}")
        result = {
            "duration_s": args.duration,
            "users": args.users,
            "user_rps": args.user_rps,
            "workers": args.workers,
            "threads": args.threads,
            "requests_per_s": rps,
            "p50_ms": float(total["50%"]),
            "p95_ms": float(total["95%"]),
            "p99_ms": p99,
            "errors": errors,
            "load_average": [load_before[0], load_after[0]],
            **check,
            "requests_counted_by_metrics": counted,
            "server_cpu_ms_per_request": cpu_ms,
            "postgres_cpu_ms_per_request": per_request["PostgreSQL CPU per request"],
            "locust_cpu_ms_per_request": per_request["locust CPU per request"],
            "verdict": verdict,
        }
        print(json.dumps(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return 0 if lost == 0 and errors == 0 else 1
    finally:
        if server is not None:
            server.stop()
        if pg is not None:
            pg.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
