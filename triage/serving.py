"""The models each worker serves: the active version per target, reloaded on activation."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.model_store import LoadedModel, ModelLoadError, load_version
from triage.tables import ModelActivation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModels:
    """One immutable snapshot: requests keep the snapshot they started with."""

    by_target: dict[str, LoadedModel] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

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
        .where(ModelActivation.target == target)
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
    newest = select(func.max(ModelActivation.id)).group_by(ModelActivation.target)
    rows = s.execute(
        select(ModelActivation.target, ModelActivation.version).where(
            ModelActivation.id.in_(newest)
        )
    )
    return {target: version for target, version in rows}


class ModelServer:
    """Holds the current snapshot and swaps in a new one when the database says so."""

    def __init__(self, models_dir: Path, reload_seconds: float) -> None:
        self.models_dir = models_dir
        self.reload_seconds = reload_seconds
        self._snapshot = ServingModels()
        self._checked_at: float | None = None
        self._lock = threading.Lock()
        # Versions whose files were refused, with the file signature then and the reason.
        self._refused: dict[str, tuple[tuple[int, int] | None, str]] = {}

    def current(self, s: Session) -> ServingModels:
        """Return the snapshot, first checking the database if the last check is old enough."""
        checked = self._checked_at
        if checked is None or time.monotonic() - checked >= self.reload_seconds:
            if self._lock.acquire(blocking=checked is None):
                try:
                    self._refresh(s)
                finally:
                    self._lock.release()
        return self._snapshot

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
        cache = {m.version: m for m in old.by_target.values()}
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
        self._snapshot = ServingModels(by_target=loaded, problems=tuple(problems))
        self._checked_at = time.monotonic()

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
