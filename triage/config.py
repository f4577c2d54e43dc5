"""Configuration defaults; every key can be set as TRIAGE_<KEY> in the environment."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class DefaultConfig:
    """Embedded defaults: SQLite under instance/, models under models/, no Redis."""

    SECRET_KEY = "dev-only-change-me"  # noqa: S105 - replaced by instance config or TRIAGE_SECRET_KEY
    # Admin login sessions: the cookie is HttpOnly (Flask's default) and sent same-site only; set
    # TRIAGE_SESSION_COOKIE_SECURE=true when served over HTTPS.
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # Admin forms stay valid for the whole login session (an agent keeps a page open for hours).
    WTF_CSRF_TIME_LIMIT: int | None = None
    DATABASE_URL: str | None = None  # None means sqlite:///<instance_path>/triage.db
    MODELS_DIR = str(ROOT / "models")
    REDIS_URL: str | None = None
    # Largest JSON body accepted anywhere, in bytes.
    MAX_CONTENT_LENGTH = 64 * 1024
    MAX_SUBJECT_CHARS = 300
    MAX_DESCRIPTION_CHARS = 20_000
    # Below these confidences a prediction is marked for human review.
    REVIEW_THRESHOLD_PRIORITY = 0.45
    REVIEW_THRESHOLD_CATEGORY = 0.50
    # How often each worker checks the database for a newly activated model, in seconds.
    MODEL_RELOAD_SECONDS = 2.0
    # Each worker process checks (and loads a new version) in a background thread, so idle
    # workers swap too and no request waits for a load. Off under TESTING.
    MODEL_WATCHER = True
    # Activation refuses a candidate whose macro-F1 on the gate's data is lower than the active
    # version's by more than this (per target), unless forced.
    MODEL_GATE_TOLERANCE = 0.01
    # The gate needs at least this many labelled rows of a target to judge it.
    MODEL_GATE_MIN_ROWS = 20
    # Share of human-labelled tickets kept out of every feedback training run, for good: the
    # gate's frozen evaluation set (chosen by ticket id, so it never changes).
    FEEDBACK_FROZEN_EVAL_SHARE = 0.15
    # The newest human labels held out of a feedback training run for its gate (at most a fifth).
    FEEDBACK_RECENT_HOLDOUT = 200
    # What a retrain adds the feedback to: a CSV with column mapping, or None for feedback only.
    # The default is the bundled synthetic demo data, so a fresh install can retrain at once.
    TRAINING_BASE_DATA: dict | None = {
        "path": "demo",
        "text_columns": ["subject", "description"],
        "priority_column": "priority",
        "category_column": "category",
        "context_columns": ["customer_tier", "channel", "stated_urgency", "impact"],
    }
    # Add X-Triage-Worker (the process id) to every response: for tests of multi-worker reloads.
    WORKER_ID_HEADER = False
    # A job whose worker has not reported for this long is shown as failed (worker lost).
    JOB_STALE_SECONDS = 300
    # How long a worker keeps its cached copy of rules, queues, SLA policies and verified API
    # keys, in seconds: a change (or a revoked key) reaches every worker within this time.
    CATALOG_TTL_SECONDS = 2.0
    # A pooled PostgreSQL connection idle this long is tested (one round trip) before reuse, so
    # one left over from before a database restart is replaced instead of failing a request.
    DB_PING_IDLE_SECONDS = 2.0
    # SQLite busy timeout, in milliseconds.
    SQLITE_BUSY_TIMEOUT_MS = 10_000
    PAGE_SIZE_DEFAULT = 50
    PAGE_SIZE_MAX = 200
    # Observability (triage/observability.py): one JSON log line per request on stderr. None means
    # on unless TESTING. /metrics answers a data_staff API key, or this bearer token if set (for
    # Prometheus' `authorization: {credentials: ...}`).
    LOG_JSON: bool | None = None
    LOG_LEVEL = "INFO"
    METRICS_TOKEN: str | None = None
    # Requests per API key to POST /triage and POST /tickets together ("" or "off": no limit).
    # Counted in RATELIMIT_STORAGE_URI, else REDIS_URL, else in each worker's memory.
    RATE_LIMIT_INTAKE = "600/minute"
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_KEY_PREFIX = "triage"


def ensure_secret_key(instance_path: str | Path) -> bool:
    """Write a random SECRET_KEY into instance/config.py unless it sets one; True if written."""
    import secrets

    path = Path(instance_path) / "config.py"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(line.strip().startswith("SECRET_KEY") for line in text.splitlines()):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    sep = "" if not text or text.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{sep}# Written by `triage setup`: signs admin login sessions. Keep it secret.\n")
        fh.write(f"SECRET_KEY = {secrets.token_hex(32)!r}\n")
    path.chmod(0o600)
    return True
