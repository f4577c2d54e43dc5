"""gunicorn settings of `triage serve`: no access log (the app logs JSON), a listening socket per
worker, metrics cleanup."""

from __future__ import annotations

from typing import Any

# One JSON line per request comes from triage.observability; gunicorn's own line would repeat it.
accesslog = None

# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
# evenly over them. With one shared socket, whichever worker woke first took the connection, and
# long-lived keep-alive clients (a form backend, a proxy) could pile onto one worker: in the load
# test one worker ran at 92% of a core and the other at 13%.
reuse_port = True


def when_ready(server: Any) -> None:
    """Say where the workers listen: gunicorn's own line is empty when each has its socket."""
    server.log.info("Workers listen at %s, a socket each (reuse_port)", ", ".join(server.cfg.bind))


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited from the shared metric files."""
    from triage.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)
