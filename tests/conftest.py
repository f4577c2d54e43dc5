"""Fixtures: app, client, runner on a fresh database per test, and a tiny model fitted once."""

from __future__ import annotations

import csv
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from triage import create_app, db
from triage.auth import create_api_key, create_user
from triage.migrations import upgrade
from triage.seed import seed_defaults
from triage.tables import Base, Role, Scope

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DATABASE_URL = os.environ.get("TRIAGE_DATABASE_URL", "")
POSTGRES_URL = os.environ.get(
    "TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DEMO_CSV = Path(__file__).resolve().parent.parent / "triage" / "demo" / "tickets.csv"


def postgres_reachable(url: str) -> bool:
    """Tell whether PostgreSQL answers at url."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def require_postgres(url: str = POSTGRES_URL) -> str:
    """Return the PostgreSQL URL, failing in CI and skipping elsewhere when it is missing."""
    if postgres_reachable(url):
        return url
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI and is not reachable at {url}")
    pytest.skip(f"PostgreSQL not reachable at {url}")


REDIS_URL = os.environ.get("TRIAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis(url: str = REDIS_URL) -> str:
    """Return the Redis URL, failing in CI and skipping elsewhere when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        return url
    except redis.RedisError:
        if IN_CI:
            pytest.fail(f"Redis is required in CI and is not reachable at {url}")
        pytest.skip(f"Redis not reachable at {url}")
    finally:
        client.close()


class TemplateDatabase:
    """A migrated, seeded database that each test gets a clean copy of."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.is_postgres = url.startswith("postgresql")
        if self.is_postgres:
            self.schema = f"triage_test_{uuid.uuid4().hex[:10]}"
            self.admin_engine = create_engine(url)
            with self.admin_engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            self.url = db.with_search_path(url, self.schema)
        else:
            self.template = workdir / "template.db"
            self.url = f"sqlite:///{self.template}"
        engine = db.make_engine(self.url)
        upgrade(engine)
        engine.dispose()

    def fresh_url(self, tmp_path: Path) -> str:
        """Return the URL of an empty, migrated database for one test."""
        if not self.is_postgres:
            target = tmp_path / "triage.db"
            shutil.copyfile(self.template, target)
            return f"sqlite:///{target}"
        engine = create_engine(self.url)
        names = [t.name for t in Base.metadata.sorted_tables]
        with engine.begin() as conn:
            # A connection a test left in a transaction would block TRUNCATE: fail, don't hang.
            conn.execute(text("SET LOCAL lock_timeout = '30s'"))
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")
            )
        engine.dispose()
        return self.url

    def close(self) -> None:
        """Drop what the template made."""
        if self.is_postgres:
            with self.admin_engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            self.admin_engine.dispose()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabase]:
    url = DATABASE_URL
    if url.startswith("postgresql"):
        require_postgres(url)
    elif url and not url.startswith("sqlite"):
        pytest.fail(f"unsupported TRIAGE_DATABASE_URL {url}")
    template = TemplateDatabase(url, tmp_path_factory.mktemp("db"))
    yield template
    template.close()


def _train_demo_version(folder: Path, start: int, stop: int) -> str:
    """Train a small version on demo tickets start..stop into folder; return its version id."""
    from triage import model_store, training
    from triage.tables import utcnow

    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), start, stop))
    data = training.TrainingData.from_rows(
        rows,
        text_columns=("subject", "description"),
        priority_column="priority",
        category_column="category",
        source=f"demo (rows {start} to {stop})",
    )
    result = training.train(data)
    manifest = model_store.save_version(
        folder,
        result.pipelines,
        training=result.training,
        metrics=result.metrics,
        parent=None,
        now=utcnow(),
    )
    return manifest["version"]


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding one small version trained on 900 demo tickets."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "TINY_VERSION").write_text(_train_demo_version(folder, 0, 900))
    return folder


@pytest.fixture(scope="session")
def second_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding another small version, trained on demo tickets 900 to 1,800."""
    folder = tmp_path_factory.mktemp("models2")
    (folder / "VERSION").write_text(_train_demo_version(folder, 900, 1800))
    return folder


@pytest.fixture
def second_version(app, second_models_dir: Path) -> str:
    """Copy the second version into the test's models folder and register it as a candidate."""
    from triage import model_store
    from triage.versions import register_version

    version = (second_models_dir / "VERSION").read_text()
    target = Path(app.config["MODELS_DIR"]) / version
    shutil.copytree(second_models_dir / version, target)
    with app.app_context():
        s = db.session()
        register_version(s, model_store.read_manifest(target.parent, version), actor="test")
        s.commit()
    return version


@pytest.fixture
def tiny_version(tiny_models_dir: Path) -> str:
    return (tiny_models_dir / "TINY_VERSION").read_text()


@pytest.fixture
def app(template_db: TemplateDatabase, tmp_path: Path, tiny_models_dir: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": template_db.fresh_url(tmp_path),
            "MODELS_DIR": str(models),
            "CATALOG_TTL_SECONDS": 0.0,
            "MODEL_RELOAD_SECONDS": 0.0,
            "SECRET_KEY": "test",
        }
    )
    with app.app_context():
        s = db.session()
        seed_defaults(s)
        s.commit()
    yield app
    app.extensions["triage"].engine.dispose()


@pytest.fixture
def active_model(app, tiny_version: str) -> str:
    """Register and activate the tiny model in the test's database."""
    from triage import model_store
    from triage.versions import activate, register_version

    with app.app_context():
        s = db.session()
        manifest = model_store.load_version(Path(app.config["MODELS_DIR"]), tiny_version).manifest
        register_version(s, manifest, actor="test")
        activate(s, tiny_version, actor="test", reason="fixture")
        s.commit()
    return tiny_version


@pytest.fixture
def base_csv(tmp_path: Path) -> Path:
    """The first 900 demo tickets: the base data a retrain adds feedback to (small and fast)."""
    path = tmp_path / "base.csv"
    with (
        DEMO_CSV.open(encoding="utf-8", newline="") as src,
        path.open("w", encoding="utf-8", newline="") as dst,
    ):
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(itertools.islice(reader, 900))
    return path


@pytest.fixture
def loop_app(app, base_csv: Path):
    """The app set up for retraining tests: small base data, small gate and hold-out sizes."""
    app.config.update(
        TRAINING_BASE_DATA={
            "path": str(base_csv),
            "text_columns": ["subject", "description"],
            "priority_column": "priority",
            "category_column": "category",
            "context_columns": ["customer_tier", "channel", "stated_urgency", "impact"],
        },
        FEEDBACK_RECENT_HOLDOUT=8,
        MODEL_GATE_MIN_ROWS=5,
        REDIS_URL=None,
    )
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Keys:
    """Plain API keys of each scope, made in the test's database."""

    def __init__(self, app) -> None:
        with app.app_context():
            s = db.session()
            agent = create_user(
                s,
                email="agent@example.com",
                name="Ana Agente",
                password="correct horse battery",
                role=Role.AGENT,
            )
            self.agent_user_id = agent.id
            self.intake = create_api_key(s, name="form", scope=Scope.INTAKE)[1]
            self.agent = create_api_key(s, name="agent", scope=Scope.AGENT, user=agent)[1]
            self.data_staff = create_api_key(s, name="data", scope=Scope.DATA_STAFF)[1]
            s.commit()

    @staticmethod
    def header(key: str) -> dict[str, str]:
        return {"X-API-Key": key}


def callers(app, keys: Keys, revoked_scope: Scope) -> dict[str, str]:
    """Plain keys by scope name, plus "revoked": a key of revoked_scope that was revoked."""
    from triage.auth import revoke_api_key
    from triage.tables import utcnow

    with app.app_context():
        s = db.session()
        row, revoked = create_api_key(s, name="gone", scope=revoked_scope)
        revoke_api_key(s, row.id, now=utcnow())
        s.commit()
    return {
        Scope.INTAKE.value: keys.intake,
        Scope.AGENT.value: keys.agent,
        Scope.DATA_STAFF.value: keys.data_staff,
        "revoked": revoked,
    }


@pytest.fixture
def keys(app) -> Keys:
    return Keys(app)


def table_counts(app) -> dict[str, int]:
    """Count the rows of every table (to show a request changed nothing)."""
    with app.app_context():
        engine = db.engine()
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {
                n: conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one()
                for n in names
                if n != "alembic_version"
            }
