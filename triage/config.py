"""Configuration defaults; every key can be set as TRIAGE_<KEY> in the environment."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class DefaultConfig:
    """Embedded defaults: SQLite under instance/, models under models/, no Redis."""

    SECRET_KEY = "dev-only-change-me"  # noqa: S105 - replaced by instance config or TRIAGE_SECRET_KEY
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
    # How long a worker keeps its cached copy of rules, queues, SLA policies and verified API
    # keys, in seconds: a change (or a revoked key) reaches every worker within this time.
    CATALOG_TTL_SECONDS = 2.0
    # SQLite busy timeout, in milliseconds.
    SQLITE_BUSY_TIMEOUT_MS = 10_000
    PAGE_SIZE_DEFAULT = 50
    PAGE_SIZE_MAX = 200
