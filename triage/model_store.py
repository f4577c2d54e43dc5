"""Model versions on disk: one folder per version with the joblib file and its JSON manifest."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy
import scipy
import sklearn
from sklearn.pipeline import Pipeline

from triage.classifier import Prediction, predict

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA = 1
TEMP_PREFIX = ".tmp-"
VERSION_PATTERN = re.compile(r"\A\d{8}T\d{6}Z-[0-9a-f]{4}\Z")


class ModelLoadError(Exception):
    """A model version that cannot be loaded, with the reason."""

    def __init__(self, version: str, reason: str):
        self.version = version
        self.reason = reason
        super().__init__(f"model version {version!r} cannot be loaded: {reason}")


@dataclass(frozen=True)
class LoadedModel:
    """A verified model version: its manifest and one fitted pipeline per target."""

    version: str
    manifest: dict[str, Any]
    pipelines: dict[str, Pipeline]

    def predict(self, record: Mapping[str, Any]) -> dict[str, Prediction]:
        """Return the prediction for one ticket record per target."""
        return {target: predict(p, [record])[0] for target, p in self.pipelines.items()}


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries whose pickles must match to load a model."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "joblib": joblib.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def new_version_id(now: datetime) -> str:
    """Return a sortable version id such as 20261123T144501Z-3fa2 for the UTC time now."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def is_version_id(version: object) -> bool:
    """Return whether version is a well-formed version id (and so a safe folder name)."""
    return isinstance(version, str) and VERSION_PATTERN.match(version) is not None


def save_version(
    models_dir: str | Path,
    pipelines: dict[str, Pipeline],
    *,
    training: dict[str, Any],
    metrics: dict[str, Any],
    parent: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Write a new version folder atomically (temp folder, fsync, rename); return its manifest."""
    if not pipelines:
        raise ValueError("no pipelines to save")
    if parent is not None and not is_version_id(parent):
        raise ValueError(f"invalid parent version id: {parent!r}")
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    version = new_version_id(now)
    while (models_dir / version).exists():
        version = new_version_id(now)
    temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{version}-", dir=models_dir))
    try:
        model_path = temp / MODEL_FILE
        with model_path.open("wb") as handle:
            joblib.dump(dict(pipelines), handle)
            handle.flush()
            os.fsync(handle.fileno())
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "version": version,
            "created_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "parent": parent,
            "targets": list(pipelines),
            "labels": {t: [str(c) for c in p.classes_] for t, p in pipelines.items()},
            "libraries": library_versions(),
            "training": training,
            "metrics": metrics,
            "artifact": {
                "file": MODEL_FILE,
                "sha256": _sha256(model_path),
                "bytes": model_path.stat().st_size,
            },
        }
        with (temp / MANIFEST_FILE).open("w", encoding="utf-8") as handle:
            json.dump(_plain(manifest), handle, indent=2, ensure_ascii=False, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(temp)
        os.rename(temp, models_dir / version)
        _fsync_dir(models_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return manifest


def read_manifest(models_dir: str | Path, version: str) -> dict[str, Any]:
    """Return a version's manifest, or raise ModelLoadError when it is missing or unreadable."""
    if not is_version_id(version):
        raise ModelLoadError(str(version), "invalid version id")
    folder = Path(models_dir) / version
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise ModelLoadError(version, f"missing: no folder {folder}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(version, f"missing manifest {path}") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(version, f"unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != version:
        raise ModelLoadError(version, "unreadable manifest: it names another version")
    return manifest


def load_version(models_dir: str | Path, version: str) -> LoadedModel:
    """Load a version after checking library versions and the joblib file's sha256."""
    manifest = read_manifest(models_dir, version)
    mismatch = _library_mismatch(manifest.get("libraries") or {})
    if mismatch:
        raise ModelLoadError(version, f"version mismatch: {mismatch}")
    artifact = manifest.get("artifact") or {}
    model_path = Path(models_dir) / version / MODEL_FILE
    if not model_path.is_file():
        raise ModelLoadError(version, f"missing model file {model_path}")
    actual = _sha256(model_path)
    if actual != artifact.get("sha256"):
        raise ModelLoadError(
            version, f"hash mismatch: manifest says {artifact.get('sha256')}, file has {actual}"
        )
    try:
        # The hash matched the manifest written with the file, so this is the artifact we saved.
        pipelines = joblib.load(model_path)  # noqa: S301
    except Exception as exc:  # a pickle can fail in many ways; all mean unreadable
        raise ModelLoadError(version, f"unreadable model file: {exc!r}") from None
    targets = manifest.get("targets")
    if not isinstance(pipelines, dict) or list(pipelines) != targets:
        raise ModelLoadError(version, f"unreadable model file: it does not hold targets {targets}")
    return LoadedModel(version=version, manifest=manifest, pipelines=pipelines)


def list_versions(models_dir: str | Path) -> list[dict[str, Any]]:
    """Return the manifests of readable versions, oldest first, skipping temp and broken folders."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    manifests = []
    for folder in sorted(models_dir.iterdir()):
        if not folder.is_dir() or not is_version_id(folder.name):
            continue
        try:
            manifests.append(read_manifest(models_dir, folder.name))
        except ModelLoadError:
            continue
    return manifests


def _library_mismatch(saved: Mapping[str, Any]) -> str:
    """Describe how the saved library versions differ from the running ones, or return ''."""
    running = library_versions()
    problems = []
    if saved.get("sklearn") != running["sklearn"]:
        problems.append(f"scikit-learn {saved.get('sklearn')} saved, {running['sklearn']} running")
    for name in ("joblib", "numpy"):
        if _major_minor(saved.get(name)) != _major_minor(running[name]):
            problems.append(f"{name} {saved.get(name)} saved, {running[name]} running")
    return "; ".join(problems)


def _major_minor(version: Any) -> tuple[str, ...]:
    """Return the first two parts of a dotted version string."""
    return tuple(str(version).split(".")[:2])


def _sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk so a rename survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain(value: Any) -> Any:
    """Return value with numpy scalars, arrays and tuples turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, numpy.ndarray):
        return _plain(value.tolist())
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value
