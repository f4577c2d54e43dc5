"""Time the admin ticket list over 100,000 tickets: first page, and a filtered page by SLA due time.

    .venv/bin/python bench/admin_list.py [--tickets 100000] [--rounds 20] [--postgres]

Prints median and p95 per page and the SQL statements each request runs (to catch N+1 queries).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage import create_app, db  # noqa: E402
from triage.auth import create_user  # noqa: E402
from triage.migrations import upgrade  # noqa: E402
from triage.seed import seed_defaults  # noqa: E402
from triage.tables import Queue, Role, SlaState, Status, Ticket, utcnow  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password 123"


def fill(app, n: int) -> None:
    """Insert n tickets in bulk (Core executemany, 5,000 a batch)."""
    with app.app_context():
        s = db.session()
        queue_ids = [q for q in s.scalars(text("SELECT id FROM queues"))] or [1]
        _ = Queue
        now = utcnow()
        rng = random.Random(7)
        statuses = [Status.NEW, Status.OPEN, Status.PENDING, Status.RESOLVED]
        batch = []
        for i in range(n):
            created = now - timedelta(minutes=n - i)
            batch.append(
                {
                    "subject": f"Chamado {i}: impressora parada",
                    "description": "Texto " * 20,
                    "requester": f"user{i % 977}@example.com",
                    "status": rng.choice(statuses),
                    "priority": rng.choice(["urgent", "high", "medium", "low"]),
                    "category": rng.choice(["technical_support", "billing", "account_access"]),
                    "queue_id": rng.choice(queue_ids),
                    "priority_source": "model:bench",
                    "queue_source": "model:bench",
                    "decision": {},
                    "tags": [],
                    "created_at": created,
                    "updated_at": created,
                    "sla_consumed_seconds": 0.0,
                    "resolution_due_at": created + timedelta(hours=rng.randint(1, 72)),
                    "sla_state": rng.choice([SlaState.OK, SlaState.OK, SlaState.AT_RISK]),
                    "needs_review": rng.random() < 0.1,
                }
            )
            if len(batch) == 5000:
                s.execute(insert(Ticket), batch)
                batch = []
        if batch:
            s.execute(insert(Ticket), batch)
        create_user(s, email="bench@example.com", name="Bench", password=PASSWORD, role=Role.AGENT)
        s.commit()


def login(client) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = client.post(
        "/admin/login",
        data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 302, r.status_code


def measure(app, client, url: str, rounds: int) -> None:
    statements = []
    engine = app.extensions["triage"].engine

    def count(*_args) -> None:
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    times = []
    per_request = []
    try:
        for _ in range(rounds):
            statements.clear()
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.status_code
            per_request.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(
        f"{url:<60} median {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
        f"SQL statements/request {max(per_request)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.postgres:
            schema = f"bench_admin_{uuid.uuid4().hex[:8]}"
            admin_engine = create_engine(PG)
            with admin_engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = db.with_search_path(PG, schema)
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            engine = db.make_engine(url)
            upgrade(engine)
            engine.dispose()
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "SECRET_KEY": "bench",
                    "TESTING": True,
                    "MODELS_DIR": str(Path(tmp) / "models"),
                }
            )
            with app.app_context():
                seed_defaults(db.session())
                db.session().commit()
            t0 = time.perf_counter()
            fill(app, args.tickets)
            print(
                f"{args.tickets} tickets inserted in {time.perf_counter() - t0:.1f} s "
                f"({'PostgreSQL' if args.postgres else 'SQLite'})"
            )
            client = app.test_client()
            login(client)
            client.get("/admin/tickets/")  # warm the catalog cache and templates
            for url_ in (
                "/admin/tickets/",
                "/admin/tickets/?sort=due",
                "/admin/tickets/?queue=support&status=open&sort=due",
                "/admin/tickets/?priority=urgent&needs_review=yes&sort=due&page=3",
                "/admin/tickets/?status=open&count=1",
            ):
                measure(app, client, url_, args.rounds)
            app.extensions["triage"].engine.dispose()
        finally:
            if schema:
                with admin_engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin_engine.dispose()


if __name__ == "__main__":
    main()
