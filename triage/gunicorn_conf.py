"""gunicorn settings of `triage serve`: no access log (the app logs JSON), metrics cleanup."""

from __future__ import annotations

from typing import Any

# One JSON line per request comes from triage.observability; gunicorn's own line would repeat it.
accesslog = None


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited from the shared metric files."""
    from triage.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)
