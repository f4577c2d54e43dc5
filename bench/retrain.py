"""Time retraining from 10,000 feedback rows, as `POST /api/v1/models/train` runs it.

Usage: .venv/bin/python bench/retrain.py [--rows 10000] [--corrected 0.3] [--base-data]
       [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Tickets come from the demo generator with a seed of their own (not the bundled demo file), are
bulk-inserted as human-labelled tickets, a share of them with an agent's correction event, into a
fresh SQLite file (or a PostgreSQL schema of its own, dropped at the end). Then the training job
itself runs in-process (`triage.jobs.execute`, the same code an RQ worker runs): read the
feedback, split off the frozen and recent rows, fit both targets, save and register the version,
and gate it against an active version trained beforehand. Prints each step's time from the
job's progress reports, and the total.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage import create_app, db, jobs  # noqa: E402
from triage.demo.generate import generate_tickets  # noqa: E402
from triage.seed import seed_defaults  # noqa: E402
from triage.tables import Job, JobState, Queue, Ticket, TicketEvent  # noqa: E402
from triage.versions import activate, ensure_demo_model  # noqa: E402


def fill(app, rows: int, corrected: float, seed: int) -> None:
    """Insert `rows` human-labelled tickets; a share carry a correction of the model's label."""
    rng = random.Random(seed)
    tickets = generate_tickets(seed=seed, rows=rows)
    with app.app_context():
        s = db.session()
        queue_id = s.scalar(select(Queue.id).limit(1))
        start = datetime(2026, 9, 1, tzinfo=UTC)
        ticket_rows, event_rows = [], []
        for i, t in enumerate(tickets, start=1):
            at = start + timedelta(minutes=7 * i)
            ticket_rows.append(
                dict(
                    id=i,
                    subject=t["subject"],
                    description=t["description"],
                    channel=t["channel"],
                    customer_tier=t["customer_tier"],
                    stated_urgency=t["stated_urgency"] or None,
                    impact=t["impact"] or None,
                    language=t["language"],
                    status="open",
                    priority=t["priority"],
                    category=t["category"],
                    queue_id=queue_id,
                    priority_source="agent:1",
                    category_source="agent:1",
                    queue_source="matrix",
                    priority_human_set=True,
                    category_human_set=True,
                    decision={},
                    tags=[],
                    created_at=at,
                    updated_at=at,
                    sla_consumed_seconds=0.0,
                    sla_state="ok",
                )
            )
            if rng.random() < corrected:
                event_rows.append(
                    dict(
                        ticket_id=i,
                        at=at + timedelta(minutes=3),
                        field="category",
                        old_value="technical_support",
                        new_value=t["category"],
                        actor="user:1",
                        source="agent:1",
                        reason="bench",
                        predicted_value="technical_support",
                        is_correction=True,
                    )
                )
        s.execute(insert(Ticket), ticket_rows)
        if event_rows:
            s.execute(insert(TicketEvent), event_rows)
        s.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--corrected", type=float, default=0.3)
    parser.add_argument("--base-data", action="store_true", help="add the demo data as base")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="triage-bench-retrain-"))
    schema = None
    if args.postgres_url:
        schema = f"bench_retrain_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = db.with_search_path(args.postgres_url, schema)
    else:
        url = f"sqlite:///{work / 'triage.db'}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "MODELS_DIR": str(work / "models"),
            "MODEL_WATCHER": False,
            "LOG_JSON": False,
            "RATE_LIMIT_INTAKE": "",
        }
    )
    try:
        from triage.migrations import upgrade

        upgrade(app.extensions["triage"].engine)
        with app.app_context():
            s = db.session()
            seed_defaults(s)
            s.commit()
            ensure_demo_model(s, echo=lambda line: print(line, flush=True))
        t0 = time.perf_counter()
        fill(app, args.rows, args.corrected, args.seed)
        print(f"inserted {args.rows} labelled tickets in {time.perf_counter() - t0:.1f} s")

        job_id = str(uuid.uuid4())
        with app.app_context():
            s = db.session()
            s.add(
                Job(
                    id=job_id,
                    kind="train",
                    state=JobState.QUEUED,
                    backend="thread",
                    params={"base_data": args.base_data},
                    created_by="bench",
                )
            )
            s.commit()
        if not args.base_data:
            app.config["TRAINING_BASE_DATA"] = None
        marks: list[tuple[float, str]] = []
        original = jobs._Reporter.progress

        def progress(self, step: str, fraction: float) -> None:
            marks.append((time.perf_counter(), step))
            original(self, step, fraction)

        jobs._Reporter.progress = progress  # type: ignore[method-assign]
        start = time.perf_counter()
        with app.app_context():
            jobs.execute(job_id)
        total = time.perf_counter() - start
        with app.app_context():
            job = db.session().get(Job, job_id)
            if job.state != JobState.SUCCEEDED:
                raise SystemExit(f"job failed: {job.error}")
            result = job.result
        print("\nstep (as the job reports it)                       seconds")
        ends = [at for at, _ in marks[1:]] + [start + total]
        for (at, step), end in zip(marks, ends, strict=True):
            print(f"{step[:50]:<50} {end - at:7.1f}")
        print(f"{'total (job start to done)':<50} {total:7.1f}")
        print(f"\nversion {result['version']}: {result['training_rows']} training rows")
        for target, m in result["metrics"].items():
            f1, accuracy = m["macro_f1"], m["accuracy"]
            print(f"  {target}: held-out macro-F1 {f1:.3f}, accuracy {accuracy:.3f}")
        print(f"  gate: {result['gate']}")
        with app.app_context():
            s = db.session()
            t1 = time.perf_counter()
            activate(s, result["version"], actor="bench", force=True)
            s.commit()
            print(f"activation (load + checks): {time.perf_counter() - t1:.2f} s")
    finally:
        app.extensions["triage"].engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
