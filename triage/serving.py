"""The models each worker serves: the active version per target, reloaded on activation."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage import metrics
from triage.model_store import LoadedModel, ModelLoadError, load_version
from triage.tables import ModelActivation, ModelStatus, ModelVersion

# The activation-log actions that decide which version serves; "shadow" rows are only audit.
SERVING_ACTIONS = ("activate", "rollback")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModels:
    """One immutable snapshot: requests keep the snapshot they started with."""

    by_target: dict[str, LoadedModel] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    # A candidate predicting beside the serving models on stored tickets; never decides anything.
    shadow: LoadedModel | None = None

    def version(self, target: str) -> str | None:
        """Return the version serving target, or None."""
        model = self.by_target.get(target)
        return model.version if model else None

    @property
    def mode(self) -> str:
        """Return "model" when any model is loaded, else "rules_only"."""
        return "model" if self.by_target else "rules_only"


def activation_stack(s: Session, target: str) -> list[str]:
    """Replay the activation log of a target: activations push, rollbacks pop (newest last)."""
    stack: list[str] = []
    rows = s.execute(
        select(ModelActivation.action, ModelActivation.version)
        .where(ModelActivation.target == target, ModelActivation.action.in_(SERVING_ACTIONS))
        .order_by(ModelActivation.id)
    )
    for action, version in rows:
        if action == "rollback":
            if stack:
                stack.pop()
        elif version is not None:
            stack.append(version)
    return stack


def active_versions(s: Session) -> dict[str, str | None]:
    """Return the active version of each target, read from the activation log."""
    newest = (
        select(func.max(ModelActivation.id))
        .where(ModelActivation.action.in_(SERVING_ACTIONS))
        .group_by(ModelActivation.target)
    )
    rows = s.execute(
        select(ModelActivation.target, ModelActivation.version).where(
            ModelActivation.id.in_(newest)
        )
    )
    return {target: version for target, version in rows}


def shadow_version(s: Session) -> str | None:
    """Return the version set to shadow, if any."""
    return s.scalar(
        select(ModelVersion.version)
        .where(ModelVersion.status == ModelStatus.SHADOW)
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )


class ModelServer:
    """Holds the current snapshot and swaps in a new one when the database says so.

    With a session factory and a positive reload interval, a background thread of each worker
    process checks the database and loads a newly active version off the request path, so an
    idle worker swaps too and no request waits for a load. Without them (tests, CLI), a request
    whose snapshot is older than the interval refreshes it itself.
    """

    def __init__(
        self,
        models_dir: Path,
        reload_seconds: float,
        sessions: Callable[[], Session] | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.reload_seconds = reload_seconds
        self._sessions = sessions
        self._snapshot = ServingModels()
        self._checked_at: float | None = None
        self._lock = threading.Lock()
        self._watcher_pid: int | None = None
        # Versions whose files were refused, with the file signature then and the reason.
        self._refused: dict[str, tuple[tuple[int, int] | None, str]] = {}

    @property
    def watching(self) -> bool:
        """Tell whether this process has a background thread keeping the snapshot fresh."""
        return self._watcher_pid == os.getpid()

    def current(self, s: Session) -> ServingModels:
        """Return the snapshot, refreshing it first when it is missing or (unwatched) old."""
        checked = self._checked_at
        if checked is None:
            with self._lock:
                if self._checked_at is None:
                    self._refresh(s)
            self._start_watcher()
        elif not self.watching and time.monotonic() - checked >= self.reload_seconds:
            if self._lock.acquire(blocking=False):
                try:
                    self._refresh(s)
                finally:
                    self._lock.release()
        return self._snapshot

    def refresh(self, s: Session) -> ServingModels:
        """Check the database now and swap in what it names (CLI, tests, the watcher)."""
        with self._lock:
            self._refresh(s)
        return self._snapshot

    def _start_watcher(self) -> None:
        """Start this process's watcher thread once (after a fork, the child starts its own)."""
        if self._sessions is None or self.reload_seconds <= 0 or self.watching:
            return
        with self._lock:
            if self.watching:
                return
            self._watcher_pid = os.getpid()
        thread = threading.Thread(target=self._watch, name="triage-model-watcher", daemon=True)
        thread.start()

    def _watch(self) -> None:
        assert self._sessions is not None
        while True:
            time.sleep(self.reload_seconds)
            try:
                with self._sessions() as s:
                    self.refresh(s)
            except Exception:  # noqa: BLE001 - the watcher must outlive a database outage
                log.exception("checking the active model versions failed; will retry")

    def _load(self, version: str, cache: dict[str, LoadedModel]) -> LoadedModel:
        """Load a version once per refresh; a refused file is not re-read until it changes."""
        if version in cache:
            return cache[version]
        signature = _file_signature(self.models_dir, version)
        refused = self._refused.get(version)
        if refused is not None and refused[0] == signature:
            raise ModelLoadError(version, refused[1])
        try:
            model = load_version(self.models_dir, version)
        except ModelLoadError as exc:
            self._refused[version] = (signature, exc.reason)
            raise
        cache[version] = model
        return model

    def _refresh(self, s: Session) -> None:
        wanted = active_versions(s)
        old = self._snapshot
        loaded: dict[str, LoadedModel] = {}
        cache = {m.version: m for m in (*old.by_target.values(), old.shadow) if m is not None}
        problems: list[str] = []
        for target, version in sorted(wanted.items()):
            if version is None:
                continue
            try:
                model = self._load(version, cache)
            except ModelLoadError as exc:
                problems.append(f"{target}: version {version} refused: {exc.reason}")
                log.error("model %s for %s not loaded: %s", version, target, exc.reason)
                model = old.by_target.get(target) or self._last_good(s, target, version, cache)
                if model is not None:
                    problems.append(f"{target}: serving {model.version} instead")
            if model is not None and target in model.pipelines:
                loaded[target] = model
            elif model is not None:
                problems.append(f"{target}: version {model.version} has no {target} model")
        shadow = None
        shadow_name = shadow_version(s)
        if shadow_name is not None:
            try:
                shadow = self._load(shadow_name, cache)
            except ModelLoadError as exc:
                problems.append(f"shadow: version {shadow_name} refused: {exc.reason}")
        unchanged = (
            {t: m.version for t, m in loaded.items()}
            == {t: m.version for t, m in old.by_target.items()}
            and (shadow and shadow.version) == (old.shadow and old.shadow.version)
            and tuple(problems) == old.problems
        )
        if not unchanged:
            self._snapshot = ServingModels(
                by_target=loaded, problems=tuple(problems), shadow=shadow
            )
            if old.by_target or loaded:
                log.info(
                    "serving %s (shadow %s)",
                    {t: m.version for t, m in loaded.items()} or "rules only",
                    shadow.version if shadow else None,
                )
        self._checked_at = time.monotonic()
        metrics.record_models_serving(self._snapshot)

    def _last_good(
        self, s: Session, target: str, failed: str, cache: dict[str, LoadedModel]
    ) -> LoadedModel | None:
        """Return the newest earlier version of target that loads (a worker started afresh)."""
        for version in reversed(activation_stack(s, target)):
            if version == failed:
                continue
            try:
                return self._load(version, cache)
            except ModelLoadError:
                continue
        return None


def _file_signature(models_dir: Path, version: str) -> tuple[int, int] | None:
    try:
        stat = (models_dir / version / "model.joblib").stat()
    except (OSError, ValueError):
        return None
    return (stat.st_mtime_ns, stat.st_size)
