"""Time the SLA sweep over 100,000 open tickets, and the decision's cost of 200 rules per ticket.

Usage: .venv/bin/python bench/sla.py [--tickets 100000] [--repeats 3]
       [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--no-postgres]
       [--decision-tickets 300] [--json out.json]

Sweep: tickets are bulk-inserted once per database with a realistic mix (new and open tickets
whose due times fall from hours ago to days ahead, some already at risk or breached by an earlier
sweep, pending and resolved ones the sweep must leave alone), and policies escalate on breach
(high and medium raise the priority, low moves to customer care). Each repeat restores that
state and times `triage.sweep.sweep` as `triage sla sweep` runs it, with and without the
escalations, then times a second sweep at the same instant (nothing left to do: the cron cost).
SQLite uses a file in a temporary folder; PostgreSQL a schema of its own, dropped at the end.

Decision: `triage.decision.decide` with the demo model (trained here on the demo tickets) and the
catalog's configuration, with 0 rules and with 200 realistic rules (bench/rules.py), alternating
rounds; the added time per ticket is the difference of the medians, also measured with the
model's predictions computed beforehand so only the decision itself is timed.
Prints a table, then the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rules import make_rules, make_tickets  # noqa: E402 - bench/rules.py

from triage import db, model_store, training  # noqa: E402
from triage.catalog import Catalog, load_catalog  # noqa: E402
from triage.classifier import predict  # noqa: E402
from triage.decision import TicketFacts, decide  # noqa: E402
from triage.migrations import upgrade  # noqa: E402
from triage.rules import compile_ruleset  # noqa: E402
from triage.seed import seed_defaults  # noqa: E402
from triage.serving import ServingModels  # noqa: E402
from triage.sweep import sweep  # noqa: E402
from triage.tables import (  # noqa: E402
    Queue,
    SlaPolicy,
    SlaState,
    Status,
    Ticket,
    TicketEvent,
)
from triage.versions import demo_data  # noqa: E402

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# minutes: first response, resolution (the seeded policies)
TARGETS = {"urgent": (30, 240), "high": (120, 960), "medium": (240, 1620), "low": (540, 4860)}
PRIORITY_WEIGHTS = {"urgent": 5, "high": 20, "medium": 45, "low": 30}
ESCALATIONS = {
    "urgent": {},
    "high": {"raise_priority": 1},
    "medium": {"raise_priority": 1},
    "low": {"queue": "customer_care"},
}
QUEUES = ("support", "billing", "accounts", "security", "customer_care")
H = timedelta(hours=1)


# ---- the sweep ----


def ticket_rows(count: int, queue_ids: dict[str, int], rng: random.Random) -> list[dict]:
    """Return `count` ticket rows: mostly running clocks around their due times, some paused."""
    priorities = list(PRIORITY_WEIGHTS)
    weights = list(PRIORITY_WEIGHTS.values())
    rows = []
    for i in range(count):
        priority = rng.choices(priorities, weights)[0]
        fr_min, res_min = TARGETS[priority]
        kind = rng.random()
        created = NOW - timedelta(minutes=rng.randint(5, 7 * 24 * 60))
        row = {
            "subject": f"Chamado {i}: erro ao gerar nota fiscal",
            "description": "O sistema mostra um erro ao gerar a nota fiscal do pedido.",
            "priority": priority,
            "queue_id": queue_ids[rng.choice(QUEUES)],
            "priority_source": "matrix",
            "queue_source": "routing:technical_support",
            "channel": "email",
            "tags": [],
            "needs_review": False,
            "decision": {},
            "created_at": created,
            "updated_at": created,
            "sla_consumed_seconds": 0.0,
            "priority_human_set": rng.random() < 0.1,
            "category_human_set": False,
            "first_response_due_at": None,
            "resolution_due_at": None,
            "sla_at_risk_at": None,
            "sla_running_since": created,
            "first_response_at": None,
            "resolved_at": None,
        }
        if kind < 0.45:  # new: the first response is what is due next
            due = NOW + timedelta(minutes=rng.uniform(-8 * 60, 8 * 60))
            row.update(
                status=Status.NEW.value,
                first_response_due_at=due,
                resolution_due_at=due + timedelta(minutes=(res_min - fr_min) * 2),
                sla_at_risk_at=due - timedelta(minutes=fr_min * 0.25 * 2),
            )
        elif kind < 0.85:  # open: answered, the resolution is due
            due = NOW + timedelta(minutes=rng.uniform(-12 * 60, 24 * 60))
            row.update(
                status=Status.OPEN.value,
                first_response_at=created + timedelta(minutes=fr_min / 2),
                resolution_due_at=due,
                sla_at_risk_at=due - timedelta(minutes=res_min * 0.25 * 2),
            )
        elif kind < 0.95:  # pending: clock paused, never touched
            row.update(
                status=Status.PENDING.value,
                sla_running_since=None,
                first_response_due_at=NOW - H,
                sla_at_risk_at=NOW - 2 * H,
            )
        else:  # resolved
            row.update(status=Status.RESOLVED.value, sla_running_since=None, resolved_at=NOW - H)
        due = min(
            (d for d in (row["first_response_due_at"], row["resolution_due_at"]) if d), default=None
        )
        state = SlaState.OK
        if row["status"] == Status.PENDING.value:
            state = SlaState.PAUSED
        elif row["status"] == Status.RESOLVED.value:
            state = SlaState.MET
        elif due is not None and due <= NOW - 2 * H and rng.random() < 0.5:
            state = SlaState.BREACHED  # an earlier sweep saw it
        elif row["sla_at_risk_at"] <= NOW - H / 2 and rng.random() < 0.5:
            state = SlaState.AT_RISK
        row["sla_state"] = state.value
        rows.append(row)
    return rows


def build(engine: Engine, tickets: int, rng: random.Random) -> dict[str, int]:
    """Migrate, seed and bulk-insert the tickets; return what the sweep should find."""
    upgrade(engine)
    with Session(engine) as s:
        seed_defaults(s)
        s.commit()
        queue_ids = {q.name: q.id for q in s.scalars(select(Queue))}
    rows = ticket_rows(tickets, queue_ids, rng)
    table = Ticket.__table__
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(table), rows[start : start + 5000])
    return state_mix(rows)


def state_mix(rows: list[dict]) -> dict[str, int]:
    """Count the starting status/SLA state pairs, for the report."""
    counts: dict[str, int] = {}
    for row in rows:
        key = f"{row['status']}/{row['sla_state']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def set_escalations(engine: Engine, on: bool) -> None:
    with engine.begin() as conn:
        for priority, escalation in ESCALATIONS.items():
            conn.execute(
                update(SlaPolicy)
                .where(SlaPolicy.priority == priority)
                .values(escalation=escalation if on else {})
            )


def timed_sweep(engine: Engine) -> dict[str, Any]:
    """Run one sweep as `triage sla sweep` does, then a second one at the same instant."""
    sessions = sessionmaker(engine, expire_on_commit=False)  # as the app makes them
    with sessions() as s:
        started = time.perf_counter()
        catalog = load_catalog(s, NOW)
        catalog_s = time.perf_counter() - started
        report = sweep(s, catalog, NOW)
        again = sweep(s, catalog, NOW)
        events = s.scalar(select(func.count()).select_from(TicketEvent))
    assert again.events == 0 and again.at_risk == 0 and again.breached == 0, again
    assert events == report.events, (events, report.events)
    return {
        "catalog_s": catalog_s,
        "sweep_s": report.seconds,
        "again_s": again.seconds,
        "report": report.as_dict(),
    }


class SqliteTarget:
    """A base database file copied fresh for every repeat."""

    name = "sqlite"

    def __init__(self, workdir: Path, tickets: int) -> None:
        self.workdir = workdir
        self.base = workdir / "base.db"
        engine = db.make_engine(f"sqlite:///{self.base}")
        started = time.perf_counter()
        self.mix = build(engine, tickets, random.Random(11))
        self.build_s = time.perf_counter() - started
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def fresh(self, escalations: bool) -> Engine:
        run = self.workdir / "run.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{run}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.base, run)
        engine = db.make_engine(f"sqlite:///{run}")
        set_escalations(engine, escalations)
        return engine

    def close(self) -> None:
        pass


class PostgresTarget:
    """A schema of its own; the seeded tickets are kept in a copy table and restored per repeat."""

    name = "postgresql"

    def __init__(self, url: str, tickets: int) -> None:
        self.schema = f"bench_sla_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(url)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.url = db.with_search_path(url, self.schema)
        engine = db.make_engine(self.url)
        started = time.perf_counter()
        self.mix = build(engine, tickets, random.Random(11))
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE tickets_seed AS SELECT * FROM tickets"))
        self.build_s = time.perf_counter() - started
        engine.dispose()

    def fresh(self, escalations: bool) -> Engine:
        engine = db.make_engine(self.url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE ticket_events, tickets RESTART IDENTITY CASCADE"))
            conn.execute(text("INSERT INTO tickets SELECT * FROM tickets_seed"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE tickets"))
        set_escalations(engine, escalations)
        return engine

    def close(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.admin.dispose()


def bench_sweep(target: Any, repeats: int) -> dict[str, Any]:
    result: dict[str, Any] = {"build_s": round(target.build_s, 2), "mix": target.mix}
    for escalations in (False, True):
        runs = []
        for _ in range(repeats):
            engine = target.fresh(escalations)
            try:
                runs.append(timed_sweep(engine))
            finally:
                engine.dispose()
        key = "with_escalation" if escalations else "plain"
        result[key] = {
            "sweep_s_median": round(statistics.median(r["sweep_s"] for r in runs), 3),
            "sweep_s_runs": [round(r["sweep_s"], 3) for r in runs],
            "second_sweep_s_median": round(statistics.median(r["again_s"] for r in runs), 3),
            "catalog_load_s_median": round(statistics.median(r["catalog_s"] for r in runs), 3),
            "report": {
                k: v
                for k, v in runs[-1]["report"].items()
                if k not in ("now", "seconds", "problems")
            },
        }
        print(
            f"  {target.name:<10} {key:<16} median {result[key]['sweep_s_median']:.2f} s "
            f"(runs {result[key]['sweep_s_runs']})",
            flush=True,
        )
    return result


# ---- the decision ----


def demo_model(workdir: Path) -> ServingModels:
    """Train the demo model as `triage setup` does, save it and load it back."""
    result = training.train(demo_data())
    manifest = model_store.save_version(
        workdir / "models",
        result.pipelines,
        training=result.training,
        metrics=result.metrics,
        parent=None,
        now=NOW,
    )
    model = model_store.load_version(workdir / "models", manifest["version"])
    return ServingModels(by_target={t: model for t in model.pipelines})


def bench_decision(workdir: Path, count: int, rounds: int) -> dict[str, Any]:
    """Time decide() per ticket with 0 and with 200 rules, with and without model inference."""
    engine = db.make_engine(f"sqlite:///{workdir / 'base.db'}")
    with Session(engine) as s:
        base = load_catalog(s, NOW)
    engine.dispose()
    rng = random.Random(7)
    specs = make_rules(200, rng)
    compile = {
        "priorities": base.priorities,
        "queues": set(base.queues),
        "categories": set(base.category_queue),
    }
    catalogs: dict[int, Catalog] = {
        0: dataclasses.replace(base, ruleset=compile_ruleset([], **compile)),
        200: dataclasses.replace(base, ruleset=compile_ruleset(specs, **compile)),
    }
    started = time.perf_counter()
    models = demo_model(workdir)
    train_s = time.perf_counter() - started
    facts = [
        TicketFacts(
            subject=t.subject,
            description=t.description,
            customer=t.customer,
            tier=t.tier,
            channel=t.channel,
            stated_urgency=t.stated_urgency,
            impact=t.impact,
        )
        for t in make_tickets(count, rng)
    ]
    thresholds = {"priority": 0.45, "category": 0.50}
    predictions = [
        {
            target: predict(m.pipelines[target], [f.record()])[0]
            for target, m in models.by_target.items()
        }
        for f in facts
    ]

    def one_round(precomputed: bool, flip: bool) -> dict[int, float]:
        """Decide every ticket with 0 and with 200 rules back to back; microseconds per ticket.

        Paired per ticket, in alternating order, so drift in machine load hits both equally.
        """
        spent = {0: 0.0, 200: 0.0}
        order = (200, 0) if flip else (0, 200)
        for f, preds in zip(facts, predictions, strict=True):
            for n in order:
                started = time.perf_counter()
                decide(
                    f,
                    catalog=catalogs[n],
                    models=models,
                    thresholds=thresholds,
                    now=NOW,
                    predictions=preds if precomputed else None,
                )
                spent[n] += time.perf_counter() - started
        return {n: total / len(facts) * 1e6 for n, total in spent.items()}

    one_round(False, False)  # warm up
    result: dict[str, Any] = {
        "tickets": count,
        "rounds": rounds,
        "demo_model_train_s": round(train_s, 1),
        "rules": len(catalogs[200].ruleset.rules),
    }
    for precomputed in (False, True):
        rounds_us = [one_round(precomputed, flip=i % 2 == 1) for i in range(rounds)]
        key = "decide_only" if precomputed else "with_model"
        result[key] = {
            "us_per_ticket_0_rules": round(statistics.median(r[0] for r in rounds_us), 1),
            "us_per_ticket_200_rules": round(statistics.median(r[200] for r in rounds_us), 1),
            "added_us_per_ticket": round(statistics.median(r[200] - r[0] for r in rounds_us), 1),
        }
    return result


# ---- report ----


def print_table(result: dict[str, Any]) -> None:
    print()
    print(
        f"SLA sweep over {result['tickets']:,} tickets, median of {result['repeats']} runs "
        f"({result['cpus']} CPUs, load average {result['load_average_before'][0]} before, "
        f"{result['load_average_after'][0]} after)"
    )
    print(
        f"{'database':<11} {'escalation':<11} {'sweep s':>8} {'again s':>8} {'at risk':>8} "
        f"{'breached':>9} {'events':>8} {'raised':>7} {'skipped':>8} {'requeued':>9}"
    )
    for name in ("sqlite", "postgresql"):
        if name not in result["sweep"]:
            continue
        for key in ("plain", "with_escalation"):
            r = result["sweep"][name][key]
            rep = r["report"]
            print(
                f"{name:<11} {'yes' if key != 'plain' else 'no':<11} {r['sweep_s_median']:>8.2f} "
                f"{r['second_sweep_s_median']:>8.3f} {rep['at_risk']:>8} {rep['breached']:>9} "
                f"{rep['events']:>8} {rep['priority_raised']:>7} {rep['raise_skipped_human']:>8} "
                f"{rep['requeued']:>9}"
            )
    d = result["decision"]
    print()
    print(f"decide() per ticket, {d['tickets']} tickets, median of {d['rounds']} rounds")
    print(f"{'':<22} {'0 rules us':>11} {'200 rules us':>13} {'added us':>9}")
    for key, label in (("with_model", "with the demo model"), ("decide_only", "predictions given")):
        r = d[key]
        print(
            f"{label:<22} {r['us_per_ticket_0_rules']:>11.1f} "
            f"{r['us_per_ticket_200_rules']:>13.1f} {r['added_us_per_ticket']:>9.1f}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--decision-tickets", type=int, default=300)
    parser.add_argument("--decision-rounds", type=int, default=7)
    parser.add_argument("--json", dest="json_path", default=None, help="also write JSON here")
    args = parser.parse_args()

    result: dict[str, Any] = {
        "tickets": args.tickets,
        "repeats": args.repeats,
        "now": NOW.isoformat(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "sweep": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-sla-") as tmp:
        workdir = Path(tmp)
        print(f"building SQLite with {args.tickets:,} tickets ...", flush=True)
        sqlite = SqliteTarget(workdir, args.tickets)
        result["sweep"]["sqlite"] = bench_sweep(sqlite, args.repeats)
        if not args.no_postgres:
            print(f"building PostgreSQL with {args.tickets:,} tickets ...", flush=True)
            pg = PostgresTarget(args.postgres_url, args.tickets)
            try:
                result["sweep"]["postgresql"] = bench_sweep(pg, args.repeats)
            finally:
                pg.close()
        print("training the demo model and timing decide() ...", flush=True)
        result["decision"] = bench_decision(workdir, args.decision_tickets, args.decision_rounds)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print_table(result)
    print(json.dumps(result, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
