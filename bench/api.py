"""Load-test the triage API against a bare Flask app serving the same model, over loopback.

Usage (from the repository root):

    .venv/bin/python bench/api.py [--duration 10] [--warmup 2] [--rounds 3] [--clients 1,8]
        [--workers 2] [--threads 4] [--client-mode thread|process]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json out.json]

What it does:
1. Makes a throw-away instance in a temporary folder (TRIAGE_INSTANCE_PATH, TRIAGE_MODELS_DIR)
   and runs `triage setup` there: schema, defaults, demo model trained and activated, and an
   intake API key parsed from its output. With --database-url the database is PostgreSQL, in a
   schema of its own (search_path) that is dropped at the end.
2. Starts the service with `triage serve` (gunicorn, gthread workers) and bench/bare_app.py with
   the same gunicorn settings, each on a free 127.0.0.1 port, one log line per request to a file
   in the temp folder for both (the service's JSON line, gunicorn's access log for the bare app).
   The service's intake rate limit stays on with a budget no run can spend.
3. Drives each target with N keep-alive HTTP/1.1 clients for --duration seconds after --warmup
   seconds, for every N in --clients, in --rounds interleaved rounds (bare, preview, tickets at
   1 client, then at 8, then the next round in reverse order), measuring req/s, latency and the
   server's CPU per request, and prints the medians over rounds, the targets, then JSON.
Servers are stopped (their process groups killed) and temporary folders removed in every case.
See bench/README.md for how to read the figures.

Targets: "bare" is POST /predict of bare_app.py (the floor: JSON in, both predictions with
explanations, labels out); "preview" is POST /api/v1/triage; "tickets" is POST /api/v1/tickets
with a unique Idempotency-Key per request (it stores a ticket and its events).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.cli import gunicorn_worker_args  # the same worker options as `triage serve`
from triage.db import with_search_path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

DEMO_CSV = ROOT / "triage" / "demo" / "tickets.csv"
HOST = "127.0.0.1"
TARGETS = ("bare", "preview", "tickets")
PATHS = {"bare": "/predict", "preview": "/api/v1/triage", "tickets": "/api/v1/tickets"}
EXPECTED_STATUS = {"bare": 200, "preview": 200, "tickets": 201}
# Per API key, counted in each worker's memory: far above what the clients can send.
BENCH_RATE_LIMIT = "100000000/minute"
# The targets.
MIN_THROUGHPUT_RATIO = 0.8
MAX_P99_1_CLIENT_MS = 10.0
MAX_P99_RATIO = 1.3


# ---------------------------------------------------------------- request bodies


def ticket_bodies(count: int, seed: int = 7) -> list[bytes]:
    """Return intake bodies built from demo tickets (pt and en), as an intake form sends them."""
    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(seed)
    rng.shuffle(rows)
    bodies = []
    for row in rows[:count]:
        body = {
            "subject": row["subject"],
            "description": row["description"],
            "requester": row["requester"],
            "customer": row["customer"],
            "tier": row["customer_tier"],
            "channel": row["channel"],
            "stated_urgency": row["stated_urgency"],
            "impact": row["impact"],
        }
        bodies.append(json.dumps({k: v for k, v in body.items() if v}).encode("utf-8"))
    return bodies


# ---------------------------------------------------------------- clients


@dataclass
class ClientJob:
    """What one client does: where to send, what, and when to start and stop recording."""

    client_id: int
    port: int
    path: str
    bodies: list[bytes]
    api_key: str | None
    idempotency_prefix: str | None
    expected_status: int
    warmup: float  # seconds sent but not recorded
    duration: float  # seconds recorded
    method: str = "POST"
    measure_from: float = 0.0  # time.monotonic() at which recording starts, set by drive()
    measure_to: float = 0.0  # time.monotonic() at which the client stops, set by drive()


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)  # seconds, requests inside the window
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this client's own CPU (process mode) or 0 (thread mode)


def run_client(job: ClientJob) -> ClientResult:
    """Send requests back to back on one keep-alive connection until measure_to."""
    result = ClientResult()
    cpu_start = time.process_time()
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    if job.api_key:
        headers["X-API-Key"] = job.api_key
    conn = http.client.HTTPConnection(HOST, job.port, timeout=30)
    bodies = job.bodies
    index = job.client_id * 97  # clients start at different tickets
    seq = 0
    while True:
        started = time.monotonic()
        if started >= job.measure_to:
            break
        body = bodies[index % len(bodies)]
        index += 1
        if job.idempotency_prefix:
            seq += 1
            headers["Idempotency-Key"] = f"{job.idempotency_prefix}-{job.client_id}-{seq}"
        t0 = time.perf_counter()
        try:
            if job.method == "GET":
                conn.request("GET", job.path)
            else:
                conn.request("POST", job.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            problem = None if status == job.expected_status else f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            problem = f"{exc.__class__.__name__}: {exc}"
            conn.close()
            conn = http.client.HTTPConnection(HOST, job.port, timeout=30)
        elapsed = time.perf_counter() - t0
        ended = time.monotonic()
        if started < job.measure_from or ended > job.measure_to:
            continue  # warm-up, or finished after the window closed
        if problem is None:
            result.latencies.append(elapsed)
        else:
            result.errors += 1
            if len(result.error_examples) < 3:
                result.error_examples.append(problem)
    conn.close()
    result.cpu_seconds = time.process_time() - cpu_start
    return result


def _process_client(job: ClientJob, conn: Any) -> None:
    conn.send("ready")
    job.measure_from, job.measure_to = conn.recv()
    conn.send(run_client(job))
    conn.close()


def _set_window(jobs: list[ClientJob]) -> tuple[float, float]:
    """Start the warm-up now for every client; return the measured window."""
    start = time.monotonic() + 0.05 + jobs[0].warmup
    for job in jobs:
        job.measure_from, job.measure_to = start, start + job.duration
    return start, start + jobs[0].duration


def process_stats() -> Iterator[tuple[str, list[str]]]:
    """Yield each live process's command name and the /proc/<pid>/stat fields after it.

    In the fields, [2] is the process group, [11] to [14] utime, stime, cutime, cstime in clock
    ticks.
    """
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        # The command name is in parentheses and may hold spaces.
        yield text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def group_cpu_seconds(pgid: int) -> float:
    """Return the CPU time (user + system) used so far by the live processes of a process group."""
    total = sum(
        int(fields[11]) + int(fields[12]) for _, fields in process_stats() if int(fields[2]) == pgid
    )
    return total / os.sysconf("SC_CLK_TCK")


def _server_cpu_in_window(jobs: list[ClientJob], pgid: int | None) -> float | None:
    """Sleep to the start of the measured window, then to its end; return the server CPU between."""
    if pgid is None:
        return None
    time.sleep(max(0.0, jobs[0].measure_from - time.monotonic()))
    if time.monotonic() > jobs[0].measure_from + 0.05:
        return None  # too late to see the window's start: no figure rather than a wrong one
    start = group_cpu_seconds(pgid)
    time.sleep(max(0.0, jobs[0].measure_to - time.monotonic()))
    return group_cpu_seconds(pgid) - start


def drive(
    jobs: list[ClientJob], mode: str, server_pgid: int | None = None
) -> tuple[list[ClientResult], float, float | None]:
    """Run the clients (threads or processes); return results, client CPU and server CPU."""
    if mode == "thread":
        results: list[ClientResult | None] = [None] * len(jobs)

        def work(i: int) -> None:
            results[i] = run_client(jobs[i])

        cpu0 = time.process_time()
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
        _set_window(jobs)
        for t in threads:
            t.start()
        server_cpu = _server_cpu_in_window(jobs, server_pgid)
        for t in threads:
            t.join()
        cpu = time.process_time() - cpu0
        return [r for r in results if r is not None], cpu, server_cpu
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for job in jobs:
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_process_client, args=(job, theirs), daemon=True)
        proc.start()
        theirs.close()
        pipes.append(mine)
        procs.append(proc)
    for p in pipes:  # every client is up before the clock starts (spawning takes a while)
        p.recv()
    window = _set_window(jobs)
    for p in pipes:
        p.send(window)
    server_cpu = _server_cpu_in_window(jobs, server_pgid)
    out = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(timeout=10)
    return out, sum(r.cpu_seconds for r in out), server_cpu


def percentile(sorted_values: list[float], q: float) -> float:
    """Return the nearest-rank percentile q (0-100) of sorted values, nan when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def measure(
    target: str,
    port: int,
    clients: int,
    *,
    bodies: list[bytes],
    api_key: str,
    duration: float,
    warmup: float,
    mode: str,
    label: str,
    path: str | None = None,
    server_pgid: int | None = None,
) -> dict[str, Any]:
    """Measure one target at one concurrency: requests/s, p50, p99, errors, client CPU."""
    jobs = [
        ClientJob(
            client_id=i,
            port=port,
            path=path or PATHS[target],
            bodies=bodies,
            api_key=None if target == "bare" else api_key,
            idempotency_prefix=f"bench-{label}" if target == "tickets" else None,
            expected_status=EXPECTED_STATUS[target],
            warmup=warmup,
            duration=duration,
            method="GET" if path else "POST",
        )
        for i in range(clients)
    ]
    results, client_cpu, server_cpu = drive(jobs, mode, server_pgid)
    latencies = sorted(x for r in results for x in r.latencies)
    errors = sum(r.errors for r in results)
    examples = [e for r in results for e in r.error_examples][:3]
    wall = duration + warmup + 0.05
    return {
        "target": target,
        "clients": clients,
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else math.nan,
        "errors": errors,
        "error_examples": examples,
        # Share of one core the load generator used over the whole run (warm-up included).
        "client_cpu_pct": 100 * client_cpu / wall,
        # CPU the server's processes used per request in the measured window: unlike req/s, it
        # hardly depends on how much CPU other jobs on the machine took meanwhile.
        "server_cpu_ms_per_req": (
            1000 * server_cpu / len(latencies) if server_cpu is not None and latencies else math.nan
        ),
    }


# ---------------------------------------------------------------- servers


def free_port() -> int:
    """Return a loopback port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn process group started in its own session, stopped by killing the group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path):
        # Started in the temp folder: gunicorn puts its working directory first on sys.path, and
        # the repository root there would shadow the installed (or PYTHONPATH) triage package.
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - fixed arguments
            args,
            env=env,
            cwd=log_path.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, port: int, path: str, timeout: float = 120.0) -> None:
        """Poll GET path until it answers 200; fail with the log's tail if the server dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the process group, then kill it if it lingers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()


# ---------------------------------------------------------------- instance


def run_setup(env: dict[str, str], cwd: Path) -> tuple[str, str, str]:
    """Run `triage setup`; return the intake API key, the active model version and the output."""
    proc = subprocess.run(  # noqa: S603 - fixed arguments
        [str(VENV_BIN / "triage"), "setup"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        start_new_session=True,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"triage setup failed ({proc.returncode}):\n{output}")
    key = re.search(r"intake API key\s+(\S+)", output)
    version = re.search(r"demo model (\S+) active", output)
    if key is None or version is None:
        raise RuntimeError(f"could not find the intake key or model version in:\n{output}")
    return key.group(1), version.group(1), output


class PostgresSchema:
    """A schema of its own in the given PostgreSQL database, dropped on close."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, text  # only needed for PostgreSQL

        self._text = text
        self.schema = f"triage_bench_{uuid.uuid4().hex[:10]}"
        self.engine = create_engine(url, connect_args={"connect_timeout": 5})
        with self.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.url = with_search_path(url, self.schema)

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.engine.dispose()


def check_targets(ports: dict[str, int], api_key: str, bodies: list[bytes]) -> None:
    """Fail early unless tickets can be created and both servers predict the same labels."""
    created = json.loads(post(ports["tickets"], PATHS["tickets"], bodies[0], api_key))
    if not isinstance(created.get("id"), int):
        raise RuntimeError(f"POST {PATHS['tickets']} did not return a ticket: {created}")
    for body in bodies[:20]:
        bare = json.loads(post(ports["bare"], PATHS["bare"], body, None))
        decision = json.loads(post(ports["preview"], PATHS["preview"], body, api_key))
        service = {t: decision[t]["model_label"] for t in bare}
        if bare != service:
            raise RuntimeError(f"bare app and service disagree: {bare} != {service}")


def post(port: int, path: str, body: bytes, api_key: str | None) -> bytes:
    """Send one POST and return the body, raising unless it is a 2xx."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"POST {path}: HTTP {response.status}: {data[:300]!r}")
        return data
    finally:
        conn.close()


# ---------------------------------------------------------------- report


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per (target, clients): medians over the rounds, errors summed."""
    rows = []
    keys = sorted({(r["target"], r["clients"]) for r in runs}, key=lambda k: (k[1], k[0]))
    for target, clients in keys:
        mine = [r for r in runs if r["target"] == target and r["clients"] == clients]
        rows.append(
            {
                "target": target,
                "clients": clients,
                "rounds": len(mine),
                "rps": statistics.median(r["rps"] for r in mine),
                "p50_ms": statistics.median(r["p50_ms"] for r in mine),
                "p99_ms": statistics.median(r["p99_ms"] for r in mine),
                "errors": sum(r["errors"] for r in mine),
                "client_cpu_pct": max(r["client_cpu_pct"] for r in mine),
                "server_cpu_ms_per_req": statistics.median(
                    r["server_cpu_ms_per_req"] for r in mine
                ),
                "rps_per_round": [round(r["rps"], 1) for r in mine],
                "p99_per_round": [round(r["p99_ms"], 2) for r in mine],
            }
        )
    return rows


def verdict(rows: list[dict[str, Any]], runs: list[dict[str, Any]], high: int) -> dict[str, Any]:
    """Compute the issue's ratios and whether each target is met."""
    by = {(r["target"], r["clients"]): r for r in rows}
    out: dict[str, Any] = {}
    bare, preview = by.get(("bare", high)), by.get(("preview", high))
    if bare and preview:
        out["throughput_ratio_preview_vs_bare"] = preview["rps"] / bare["rps"]
        out["p99_ratio_preview_vs_bare"] = preview["p99_ms"] / bare["p99_ms"]
        # The same ratios within each round (the targets ran back to back), for the spread.
        pairs = [
            (b, p)
            for b in runs
            for p in runs
            if b["target"] == "bare"
            and p["target"] == "preview"
            and b["clients"] == p["clients"] == high
            and b["round"] == p["round"]
        ]
        out["throughput_ratio_per_round"] = [round(p["rps"] / b["rps"], 3) for b, p in pairs]
        out["p99_ratio_per_round"] = [round(p["p99_ms"] / b["p99_ms"], 3) for b, p in pairs]
        out["throughput_ratio_median_of_rounds"] = statistics.median(
            out["throughput_ratio_per_round"]
        )
        out["p99_ratio_median_of_rounds"] = statistics.median(out["p99_ratio_per_round"])
        # Throughput ratio the two would reach with the cores to themselves: bare's CPU per
        # request over preview's (median over rounds). Robust to other jobs on the machine.
        out["cpu_capacity_ratio_preview_vs_bare"] = (
            bare["server_cpu_ms_per_req"] / preview["server_cpu_ms_per_req"]
        )
        out["throughput_target_met"] = out["throughput_ratio_preview_vs_bare"] >= (
            MIN_THROUGHPUT_RATIO
        )
        out["p99_ratio_target_met"] = out["p99_ratio_preview_vs_bare"] <= MAX_P99_RATIO
    one = by.get(("preview", 1))
    if one:
        out["p99_1_client_preview_ms"] = one["p99_ms"]
        out["p99_1_client_target_met"] = one["p99_ms"] < MAX_P99_1_CLIENT_MS
    tickets_one = by.get(("tickets", 1))
    if tickets_one:
        out["p99_1_client_tickets_ms"] = tickets_one["p99_ms"]
    return out


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(rows: list[dict[str, Any]], result: dict[str, Any], high: int) -> None:
    """Print the medians and the issue's targets."""
    print()
    print(
        f"{'target':<9}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'errors':>8}{'client CPU':>12}{'srv CPU ms/req':>16}   req/s per round"
    )
    for r in rows:
        print(
            f"{r['target']:<9}{r['clients']:>8}{r['rps']:>10.1f}{r['p50_ms']:>10.2f}"
            f"{r['p99_ms']:>10.2f}{r['errors']:>8}{r['client_cpu_pct']:>11.0f}%"
            f"{r['server_cpu_ms_per_req']:>16.2f}   "
            + " ".join(f"{x:.1f}" for x in r["rps_per_round"])
        )
    print()
    if "throughput_ratio_preview_vs_bare" in result:
        t = result["throughput_ratio_preview_vs_bare"]
        p = result["p99_ratio_preview_vs_bare"]
        print(
            f"preview/bare throughput at {high} clients: {t:.3f} "
            f"(target >= {MIN_THROUGHPUT_RATIO}: {_mark(t >= MIN_THROUGHPUT_RATIO)}); "
            f"per round {result['throughput_ratio_per_round']}, "
            f"median {result['throughput_ratio_median_of_rounds']:.2f}"
        )
        print(
            f"preview/bare p99 at {high} clients:        {p:.3f} "
            f"(target <= {MAX_P99_RATIO}: {_mark(p <= MAX_P99_RATIO)}); "
            f"per round {result['p99_ratio_per_round']}, "
            f"median {result['p99_ratio_median_of_rounds']:.2f}"
        )
        print(
            f"bare/preview server CPU per request at {high} clients: "
            f"{result['cpu_capacity_ratio_preview_vs_bare']:.3f} (the throughput ratio with the "
            "cores to themselves; not affected by other jobs)"
        )
    if "p99_1_client_preview_ms" in result:
        v = result["p99_1_client_preview_ms"]
        print(
            f"preview p99 at 1 client:               {v:.2f} ms "
            f"(target < {MAX_P99_1_CLIENT_MS:.0f} ms: {_mark(v < MAX_P99_1_CLIENT_MS)})"
        )
    print()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--clients", default="1,8", help="comma-separated concurrency levels")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="subset of bare,preview,tickets"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--client-mode", choices=("thread", "process"), default="thread")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (else SQLite)")
    parser.add_argument("--bodies", type=int, default=600, help="distinct demo tickets to send")
    parser.add_argument("--json", dest="json_path", default=None, help="also write JSON here")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.clients.split(",") if x]
    targets = [t for t in args.targets.split(",") if t]
    if unknown := set(targets) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.database_url and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql+psycopg:// URL")

    # SIGTERM (e.g. a CI timeout) should clean up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-api-"))
    servers: list[Server] = []
    pg: PostgresSchema | None = None
    try:
        env = dict(os.environ)
        env["TRIAGE_INSTANCE_PATH"] = str(workdir / "instance")
        env["TRIAGE_MODELS_DIR"] = str(workdir / "models")
        env.pop("TRIAGE_DATABASE_URL", None)
        # The intake rate limit stays on (its cost is part of the service) with a budget no run
        # reaches: the default 600/minute per key would answer most requests with 429.
        env["TRIAGE_RATE_LIMIT_INTAKE"] = BENCH_RATE_LIMIT
        if args.database_url:
            pg = PostgresSchema(args.database_url)
            env["TRIAGE_DATABASE_URL"] = pg.url
        database = f"PostgreSQL (schema {pg.schema})" if pg else "SQLite (WAL, instance folder)"
        print(f"instance {workdir}; database {database}", flush=True)
        print("running `triage setup` (trains the demo model, about a minute) ...", flush=True)
        t = time.monotonic()
        api_key, version, _ = run_setup(env, workdir)
        print(f"setup done in {time.monotonic() - t:.0f} s; model {version}", flush=True)

        ports = {"bare": free_port(), "preview": free_port()}
        ports["tickets"] = ports["preview"]
        workers = gunicorn_worker_args(args.workers, args.threads)
        servers.append(
            Server(
                "triage serve",
                [
                    str(VENV_BIN / "triage"),
                    "serve",
                    "--bind",
                    f"{HOST}:{ports['preview']}",
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                ],
                env,
                workdir / "service.log",
            )
        )
        bare_env = dict(env, BENCH_MODELS_DIR=env["TRIAGE_MODELS_DIR"], BENCH_MODEL_VERSION=version)
        servers.append(
            Server(
                "bare app",
                [
                    str(VENV_BIN / "gunicorn"),
                    "--bind",
                    f"{HOST}:{ports['bare']}",
                    *workers,
                    # One line per request, as the service logs one JSON line per request (its
                    # own gunicorn access log is off): a floor with no log would not be fair.
                    "--access-logfile",
                    "-",
                    "--pythonpath",
                    str(ROOT / "bench"),
                    "bare_app:create_app()",
                ],
                bare_env,
                workdir / "bare.log",
            )
        )
        servers[0].wait_ready(ports["preview"], "/api/v1/health")
        servers[1].wait_ready(ports["bare"], "/health")
        print(
            f"servers up: service :{ports['preview']}, bare :{ports['bare']}; gunicorn gthread "
            f"{args.workers} workers x {args.threads} threads each; {args.client_mode} clients",
            flush=True,
        )

        bodies = ticket_bodies(args.bodies)
        check_targets(ports, api_key, bodies)
        # Every gunicorn worker loads its model lazily (the service) and warms its caches.
        common = dict(bodies=bodies, api_key=api_key, mode=args.client_mode)
        pgids = {"bare": servers[1].proc.pid, "preview": servers[0].proc.pid}
        pgids["tickets"] = pgids["preview"]
        for target in targets:
            measure(
                target,
                ports[target],
                max(levels),
                duration=3.0,
                warmup=0.0,
                label=f"warm-{target}",
                **common,
            )

        # How fast the clients and gunicorn go with nothing behind them: GET /health of the bare
        # app. If this is far above every target's req/s, the load generator is not the limit.
        capacity = measure(
            "bare",
            ports["bare"],
            max(levels),
            duration=3.0,
            warmup=0.5,
            label="capacity",
            path="/health",
            **common,
        )
        print(
            f"client check: GET /health of the bare app at {max(levels)} clients: "
            f"{capacity['rps']:.0f} req/s, client CPU {capacity['client_cpu_pct']:.0f}% of a core",
            flush=True,
        )

        runs = []
        for rnd in range(1, args.rounds + 1):
            for clients in levels:
                # ABBA: every other round runs the targets in reverse, so a drift in the machine's
                # background load does not always favour the same target.
                for target in targets if rnd % 2 else targets[::-1]:
                    run = measure(
                        target,
                        ports[target],
                        clients,
                        duration=args.duration,
                        warmup=args.warmup,
                        label=f"r{rnd}-c{clients}-{uuid.uuid4().hex[:6]}",
                        server_pgid=pgids[target],
                        **common,
                    )
                    run["round"] = rnd
                    runs.append(run)
                    print(
                        f"round {rnd} {target:<8} {clients:>2} clients: {run['rps']:7.1f} req/s  "
                        f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  "
                        f"errors {run['errors']}  client CPU {run['client_cpu_pct']:.0f}%  "
                        f"server CPU {run['server_cpu_ms_per_req']:.2f} ms/req"
                        + (f"  e.g. {run['error_examples']}" if run["errors"] else ""),
                        flush=True,
                    )

        rows = summarise(runs)
        high = max(levels)
        result = verdict(rows, runs, high)
        print_table(rows, result, high)
        report = {
            "database": "postgresql" if pg else "sqlite",
            "model_version": version,
            "gunicorn": {
                "worker_class": "gthread",
                "workers": args.workers,
                "threads": args.threads,
            },
            "client_mode": args.client_mode,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "cpus": os.cpu_count(),
            "client_check_health_rps": capacity["rps"],
            "client_check_cpu_pct": capacity["client_cpu_pct"],
            "medians": rows,
            "targets": result,
            "runs": runs,
        }
        text = json.dumps(report, indent=2)
        print(text)
        if args.json_path:
            Path(args.json_path).write_text(text + "\n", encoding="utf-8")
        return 0
    finally:
        for server in servers:
            server.stop()
        if pg is not None:
            pg.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
