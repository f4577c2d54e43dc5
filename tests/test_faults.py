"""Faults: the database restarts under load, the model file goes bad, the disk fills, SQLite
under many concurrent writers. Each asserts what a client or an operator would notice."""

from __future__ import annotations

import errno
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import IN_CI, Keys
from triage import create_app, db, model_store
from triage.auth import create_api_key, create_user
from triage.cli import gunicorn_worker_args
from triage.migrations import upgrade
from triage.seed import seed_defaults
from triage.tables import Role, Scope, utcnow

HOST = "127.0.0.1"
GUNICORN = Path(sys.executable).parent / "gunicorn"
TICKET = {"subject": "Erro ao salvar pedido", "description": "Ao salvar um pedido aparece erro."}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --- a served app (gunicorn, as `triage serve` runs it) ---------------------------------------


@dataclass
class Prepared:
    """A migrated, seeded database with an intake and an agent key."""

    url: str
    intake: str
    agent: str


def prepare_database(url: str, models_dir: Path) -> Prepared:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "MODELS_DIR": str(models_dir),
            "RATE_LIMIT_INTAKE": "",
        }
    )
    try:
        with app.app_context():
            upgrade(db.engine())
            s = db.session()
            seed_defaults(s)
            user = create_user(
                s, email="ana@example.com", name="Ana", password="x" * 12, role=Role.AGENT
            )
            intake = create_api_key(s, name="form", scope=Scope.INTAKE)[1]
            agent = create_api_key(s, name="agent", scope=Scope.AGENT, user=user)[1]
            s.commit()
    finally:
        app.extensions["triage"].engine.dispose()
    return Prepared(url, intake, agent)


class Served:
    """gunicorn serving triage:create_app() on a free port, in its own process group."""

    def __init__(
        self, tmp_path: Path, database_url: str, models_dir: Path, *, workers: int, threads: int
    ) -> None:
        self.port = free_port()
        (tmp_path / "prom").mkdir(exist_ok=True)
        env = dict(
            os.environ,
            TRIAGE_DATABASE_URL=database_url,
            TRIAGE_INSTANCE_PATH=str(tmp_path / "instance"),
            TRIAGE_MODELS_DIR=str(models_dir),
            TRIAGE_RATE_LIMIT_INTAKE="off",  # these tests are about the database, not the limit
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"),
        )
        self.log_path = tmp_path / "server.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(GUNICORN),
                "--config",
                "python:triage.gunicorn_conf",
                "--bind",
                f"{HOST}:{self.port}",
                *gunicorn_worker_args(workers, threads),
                "--graceful-timeout",
                "5",
                "triage:create_app()",
            ],
            env=env,
            cwd=tmp_path,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"gunicorn exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if request(self.port, "GET", "/api/v1/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail("gunicorn did not answer within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


def request(
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict, dict[str, str]]:
    """Send one request; return status, JSON body and headers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}, dict(response.getheaders())
    finally:
        conn.close()


@dataclass
class Sent:
    """One ticket creation as the client saw it."""

    key: str
    started: float
    seconds: float
    status: int
    body: dict
    headers: dict[str, str]


def create_ticket(port: int, api_key: str, idem: str) -> Sent:
    """Create a ticket; a dropped connection is recorded as status 0 with the error."""
    started = time.monotonic()
    try:
        status, body, headers = request(
            port,
            "POST",
            "/api/v1/tickets",
            TICKET,
            {"X-API-Key": api_key, "Idempotency-Key": idem},
        )
    except (OSError, http.client.HTTPException) as exc:
        status, body, headers = 0, {"exception": repr(exc)}, {}
    return Sent(idem, started, time.monotonic() - started, status, body, headers)


def stored_ticket_ids(url: str) -> dict[str, list[int]]:
    """Map each Idempotency-Key in the tickets table to the ids stored with it."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, idempotency_key FROM tickets")).all()
    finally:
        engine.dispose()
    stored: dict[str, list[int]] = {}
    for tid, key in rows:
        stored.setdefault(key, []).append(tid)
    return stored


# --- a private PostgreSQL cluster ----------------------------------------------------------------


def postgres_bin() -> Path:
    """Return the folder of the PostgreSQL server binaries, failing in CI when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    if IN_CI:
        pytest.fail("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI")
    pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster of this test only, on a free port; never the shared one."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Under /tmp, not tmp_path: as root the server runs as the postgres user, who cannot
        # enter pytest's root-only temporary folders.
        self.root = Path(tempfile.mkdtemp(prefix="triage-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self.url = f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c fsync=off "
            "-c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: end the postmaster ourselves
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(postgres_bin())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.mark.slow
def test_database_restart_under_load_fails_fast_with_503_and_loses_nothing(
    private_postgres, tmp_path, tiny_models_dir
):
    prepared = prepare_database(private_postgres.url, tiny_models_dir)
    server = Served(tmp_path, prepared.url, tiny_models_dir, workers=2, threads=4)
    sent: list[Sent] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            sent.append(create_ticket(server.port, prepared.intake, f"pg-{uuid.uuid4().hex}"))
            time.sleep(0.02)

    clients = [threading.Thread(target=client) for _ in range(3)]
    try:
        for thread in clients:
            thread.start()
        time.sleep(2.0)
        private_postgres.stop()
        down_at = time.monotonic()
        time.sleep(3.0)
        ready_status, ready, _ = request(server.port, "GET", "/api/v1/ready")
        restarting_at = time.monotonic()
        private_postgres.start()
        up_at = time.monotonic()
        time.sleep(4.0)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        # Clients retry what failed, with the same Idempotency-Key, once the database is back.
        retried = [
            create_ticket(server.port, prepared.intake, s.key)
            for s in list(sent)
            if s.status != 201
        ]
        server.stop()

    log = server.log_path.read_text(errors="replace")
    odd = [
        (s.status, s.body, round(s.started - down_at, 2))
        for s in sent
        if s.status not in (201, 503)
    ]
    assert not odd, f"unexpected answers {odd[:5]}\n{log[-3000:]}"
    during = [
        s for s in sent if down_at + 0.5 < s.started and s.started + s.seconds < restarting_at
    ]
    assert during and all(s.status == 503 for s in during), [
        (s.status, s.body) for s in during if s.status != 503
    ][:3]
    for s in (s for s in sent if s.status == 503):
        assert s.body["error"] == "database_unavailable" and set(s.body) == {
            "error",
            "message",
            "fields",
        }
        assert s.headers.get("Retry-After")
    assert max(s.seconds for s in sent) < 5.0, "a request hung instead of failing fast"
    assert (ready_status, ready["status"], ready["database"]) == (503, "unavailable", False)
    after = [s for s in sent if s.started > up_at + 1.0]
    assert after and all(s.status == 201 for s in after), "no recovery without a restart"
    assert all(r.status in (200, 201) for r in retried)

    stored = stored_ticket_ids(prepared.url)
    acknowledged = {s.key: s.body["id"] for s in [*sent, *retried] if s.status in (200, 201)}
    assert len(acknowledged) == len({s.key for s in sent})  # every ticket in the end
    for key, tid in acknowledged.items():
        assert stored.get(key) == [tid], f"{key}: acknowledged {tid}, stored {stored.get(key)}"
    assert len(stored) == len(acknowledged)


@pytest.mark.slow
def test_a_database_restart_while_idle_costs_no_request(private_postgres, tiny_models_dir):
    """Pooled connections that sat idle across a restart are tested and replaced, not failed."""
    prepared = prepare_database(private_postgres.url, tiny_models_dir)

    def served_app(ping_idle_seconds: float):
        return create_app(
            {
                "TESTING": True,
                "DATABASE_URL": prepared.url,
                "MODELS_DIR": str(tiny_models_dir),
                "RATE_LIMIT_INTAKE": "",
                "DB_PING_IDLE_SECONDS": ping_idle_seconds,
            }
        )

    def post(client, key: str) -> int:
        headers = {"X-API-Key": prepared.intake, "Idempotency-Key": key}
        return client.post("/api/v1/tickets", json=TICKET, headers=headers).status_code

    pinging, never_pinging = served_app(0.3), served_app(3600.0)
    try:
        clients = pinging.test_client(), never_pinging.test_client()
        assert [post(c, f"before-{i}") for i, c in enumerate(clients)] == [201, 201]
        private_postgres.stop()
        private_postgres.start()
        time.sleep(0.5)  # both pools now hold a connection idle since before the restart
        # Tested before use: the dead connection is replaced and the ticket stored.
        assert post(clients[0], "after-0") == 201
        # The same pool without the test (what the idle check prevents): the request fails,
        # cleanly, and the pool reconnects for the next one.
        assert post(clients[1], "after-1") == 503
        assert post(clients[1], "after-1") == 201
    finally:
        for app in (pinging, never_pinging):
            app.extensions["triage"].engine.dispose()
    assert sorted(stored_ticket_ids(prepared.url)) == ["after-0", "after-1", "before-0", "before-1"]


# --- the active model file goes bad ------------------------------------------------------------


def older_copy(models_dir: Path, version: str) -> str:
    """Copy a version's folder under an older version id (another good version to fall back to)."""
    older = "20200101T000000Z-0bad"
    shutil.copytree(models_dir / version, models_dir / older)
    manifest_path = models_dir / older / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = older
    manifest_path.write_text(json.dumps(manifest))
    return older


def fresh_worker(app, request):
    """A new worker process's app: nothing in memory yet, it must read the model files."""
    worker = create_app({**app.config})
    request.addfinalizer(worker.extensions["triage"].engine.dispose)
    return worker.test_client()


def preview(client, keys):
    response = client.post("/api/v1/triage", json=TICKET, headers=Keys.header(keys.intake))
    assert response.status_code == 200
    return response.get_json()


def test_a_running_worker_keeps_serving_the_model_whose_file_was_deleted(
    app, client, keys, active_model
):
    assert preview(client, keys)["model_versions"]["category"] == active_model
    shutil.rmtree(Path(app.config["MODELS_DIR"]) / active_model)
    assert preview(client, keys)["model_versions"]["category"] == active_model
    ready = client.get("/api/v1/ready").get_json()
    assert ready["mode"] == "model" and ready["models"]["category"] == active_model


def test_a_new_worker_without_the_active_file_serves_rules_only_and_says_so(
    app, keys, active_model, request
):
    (Path(app.config["MODELS_DIR"]) / active_model / "model.joblib").unlink()
    client = fresh_worker(app, request)
    ready = client.get("/api/v1/ready")
    body = ready.get_json()
    assert ready.status_code == 200 and body["status"] == "degraded"
    assert body["mode"] == "rules_only"
    assert body["models"] == {"priority": None, "category": None}
    assert any(active_model in p and "missing" in p for p in body["problems"])
    decision = preview(client, keys)
    assert decision["mode"] == "rules_only" and decision["model_versions"] == {}


def test_a_corrupted_active_file_falls_back_to_the_last_good_version(
    app, keys, active_model, request
):
    from triage.versions import activate, register_version

    models_dir = Path(app.config["MODELS_DIR"])
    older = older_copy(models_dir, active_model)
    with app.app_context():
        s = db.session()
        register_version(s, model_store.read_manifest(models_dir, older), actor="test")
        activate(s, older, actor="test", reason="an earlier good version")
        activate(s, active_model, actor="test", reason="the current one")
        s.commit()
    path = models_dir / active_model / "model.joblib"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    client = fresh_worker(app, request)
    body = client.get("/api/v1/ready").get_json()
    assert body["status"] == "degraded" and body["mode"] == "model"
    assert body["models"] == {"priority": older, "category": older}
    assert any(active_model in p and "hash mismatch" in p for p in body["problems"])
    assert any(f"serving {older} instead" in p for p in body["problems"])
    assert preview(client, keys)["model_versions"]["category"] == older


# --- the disk fills during a model save -----------------------------------------------------------


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    import hashlib

    return {
        str(p.relative_to(folder)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


_SAVE_UNDER_RLIMIT = """
import resource, signal, sys
from pathlib import Path
from triage import model_store
from triage.tables import utcnow
models_dir, version, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
loaded = model_store.load_version(models_dir, version)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    model_store.save_version(models_dir, loaded.pipelines, training=loaded.manifest["training"],
                             metrics={}, parent=version, now=utcnow())
except OSError as exc:
    print("OSError", exc.errno)
    sys.exit(0)
print("saved")
"""


@pytest.mark.slow
def test_a_full_disk_during_a_model_save_leaves_no_half_written_version(
    tmp_path, tiny_models_dir, tiny_version
):
    """Real mechanisms: a small tmpfs as root (ENOSPC), else a file-size limit (EFBIG)."""
    version_bytes = _folder_bytes(tiny_models_dir / tiny_version)
    mount = tmp_path / "small-fs"
    mount.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        # Room for the existing version and a quarter of another: the save runs out mid-write.
        size_kb = (version_bytes + version_bytes // 4) // 1024 + 64
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(mount)],
                capture_output=True,
            ).returncode
            == 0
        )
    try:
        models_dir = mount / "models"
        shutil.copytree(tiny_models_dir / tiny_version, models_dir / tiny_version)
        before = _snapshot(models_dir)
        if mounted:
            loaded = model_store.load_version(models_dir, tiny_version)
            free_before = shutil.disk_usage(mount).free
            with pytest.raises(OSError) as failure:
                model_store.save_version(
                    models_dir,
                    loaded.pipelines,
                    training=loaded.manifest["training"],
                    metrics={},
                    parent=tiny_version,
                    now=utcnow(),
                )
            assert failure.value.errno == errno.ENOSPC
            assert shutil.disk_usage(mount).free >= free_before  # the partial file was removed
        else:  # not root, or mount not allowed: the same save in a process with RLIMIT_FSIZE
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _SAVE_UNDER_RLIMIT,
                    str(models_dir),
                    tiny_version,
                    str(version_bytes // 4),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.stdout.strip() == f"OSError {errno.EFBIG}", done.stderr[-2000:]
        assert _snapshot(models_dir) == before  # nothing new, nothing half-written, old intact
        assert [v["version"] for v in model_store.list_versions(models_dir)] == [tiny_version]
        assert model_store.load_version(models_dir, tiny_version).version == tiny_version
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], check=True)


# --- SQLite under concurrent writers ------------------------------------------------------------


@pytest.mark.slow
def test_sqlite_under_concurrent_writers_never_surfaces_database_is_locked(
    tmp_path, tiny_models_dir
):
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    prepared = prepare_database(url, tiny_models_dir)
    server = Served(tmp_path, url, tiny_models_dir, workers=2, threads=4)
    results: list[tuple[str, int, dict]] = []
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(10):
            key = f"w{n}-{i}-{uuid.uuid4().hex[:8]}"
            sent = create_ticket(server.port, prepared.intake, key)
            with lock:
                results.append(("create", sent.status, sent.body))
            if sent.status != 201:
                continue
            with lock:
                acknowledged[key] = sent.body["id"]
            field, value = ("priority", "low") if i % 2 else ("category", "billing")
            status, body, _ = request(
                server.port,
                "PATCH",
                f"/api/v1/tickets/{sent.body['id']}",
                {field: value, "reason": "concurrent correction"},
                {"X-API-Key": prepared.agent},
            )
            with lock:
                results.append(("patch", status, body))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    bad = [(kind, status, body) for kind, status, body in results if status not in (200, 201)]
    assert not bad, f"{bad[:5]}\n{log[-3000:]}"
    assert "database is locked" not in log
    assert len(acknowledged) == 80
    stored = stored_ticket_ids(url)
    assert {k: v for k, v in stored.items() if k in acknowledged} == {
        k: [v] for k, v in acknowledged.items()
    }
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            corrections = conn.execute(
                text("SELECT count(*) FROM ticket_events WHERE is_correction")
            ).scalar_one()
    finally:
        engine.dispose()
    assert corrections >= 40  # each patch changed the field unless the model had said the same
