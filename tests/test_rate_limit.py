"""Per-API-key rate limit of the intake routes, in memory and in a shared Redis."""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.conftest import Keys, require_redis
from triage import create_app

TICKET = {"subject": "Não consigo entrar", "description": "Minha senha não funciona desde ontem."}


def limited_app(template_db, tmp_path, tiny_models_dir, **config):
    """An app on the test's database with the given rate-limit settings."""
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": template_db.fresh_url(tmp_path)
            if "DATABASE_URL" not in config
            else config.pop("DATABASE_URL"),
            "MODELS_DIR": str(tiny_models_dir),
            "CATALOG_TTL_SECONDS": 0.0,
            "MODEL_RELOAD_SECONDS": 0.0,
            **config,
        }
    )


@pytest.fixture
def make_app(template_db, tmp_path, tiny_models_dir, app):
    """Build extra apps on the database of the `app` fixture (its seeded data and keys)."""
    made = []

    def make(**config):
        new = limited_app(
            template_db,
            tmp_path,
            tiny_models_dir,
            DATABASE_URL=app.config["DATABASE_URL"],
            **config,
        )
        made.append(new)
        return new

    yield make
    for new in made:
        new.extensions["triage"].engine.dispose()


def preview(client, key: str):
    return client.post("/api/v1/triage", json=TICKET, headers=Keys.header(key))


def create(client, key: str, idem: str | None = None):
    headers = Keys.header(key)
    if idem:
        headers["Idempotency-Key"] = idem
    return client.post("/api/v1/tickets", json=TICKET, headers=headers)


def assert_rate_limited(response) -> None:
    assert response.status_code == 429
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_the_default_limit_is_on_and_generous(app):
    assert app.config["RATE_LIMIT_INTAKE"] == "600/minute"


def test_one_budget_per_key_across_preview_and_create_in_memory(make_app, keys):
    client = make_app(RATE_LIMIT_INTAKE="3/minute").test_client()
    assert preview(client, keys.intake).status_code == 200
    assert create(client, keys.intake).status_code == 201
    assert preview(client, keys.intake).status_code == 200
    assert_rate_limited(preview(client, keys.intake))
    assert_rate_limited(create(client, keys.intake))
    # Another key from the same address has its own budget; reads are not limited.
    assert preview(client, keys.agent).status_code == 200
    for _ in range(4):
        assert client.get("/api/v1/tickets", headers=Keys.header(keys.agent)).status_code == 200


def test_a_refused_create_stores_nothing(make_app, keys):
    from tests.conftest import table_counts

    app = make_app(RATE_LIMIT_INTAKE="1/minute")
    client = app.test_client()
    assert create(client, keys.intake, "form-1").status_code == 201
    before = table_counts(app)
    assert_rate_limited(create(client, keys.intake, "form-2"))
    assert table_counts(app) == before


def test_bad_keys_get_401_until_their_address_is_limited(make_app, keys):
    client = make_app(RATE_LIMIT_INTAKE="2/minute").test_client()
    assert preview(client, "trg_not-a-key").status_code == 401
    assert client.post("/api/v1/triage", json=TICKET).status_code == 401
    assert_rate_limited(preview(client, "trg_still-not-a-key"))
    assert preview(client, keys.intake).status_code == 200  # a real key is not the address


def test_a_wrong_scope_is_refused_with_403(make_app, keys):
    client = make_app(RATE_LIMIT_INTAKE="5/minute").test_client()
    assert preview(client, keys.data_staff).status_code == 403


@pytest.mark.parametrize("setting", ["", "off"])
def test_the_limit_can_be_disabled(make_app, keys, setting):
    client = make_app(RATE_LIMIT_INTAKE=setting).test_client()
    assert all(preview(client, keys.intake).status_code == 200 for _ in range(5))


def test_workers_share_the_budget_in_redis(make_app, keys):
    url = require_redis()
    prefix = f"triage-test-{uuid.uuid4().hex[:12]}"
    worker_a = make_app(
        RATE_LIMIT_INTAKE="3/minute", RATELIMIT_STORAGE_URI=url, RATELIMIT_KEY_PREFIX=prefix
    ).test_client()
    worker_b = make_app(
        RATE_LIMIT_INTAKE="3/minute", REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix
    ).test_client()
    try:
        assert preview(worker_a, keys.intake).status_code == 200
        assert preview(worker_b, keys.intake).status_code == 200
        assert create(worker_a, keys.intake).status_code == 201
        assert_rate_limited(preview(worker_b, keys.intake))
        assert_rate_limited(preview(worker_a, keys.intake))
        assert preview(worker_b, keys.agent).status_code == 200
    finally:
        import redis

        client = redis.Redis.from_url(url)
        stored = list(client.scan_iter(match=f"*{prefix}*"))
        if stored:
            client.delete(*stored)
        client.close()
    assert stored, "the counters were kept in Redis"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_redis_falls_back_to_memory_instead_of_failing(make_app, keys, caplog):
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    client = make_app(RATE_LIMIT_INTAKE="2/minute", RATELIMIT_STORAGE_URI=url).test_client()
    assert preview(client, keys.intake).status_code == 200
    assert preview(client, keys.intake).status_code == 200
    assert_rate_limited(preview(client, keys.intake))
    assert any("counting in memory" in r.getMessage() for r in caplog.records)
