"""Tests for model versions on disk: atomic saves, verified loads, listing."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta, timezone

import joblib
import pytest
import sklearn

from triage import model_store
from triage.classifier import Prediction, build_pipeline
from triage.model_store import (
    LoadedModel,
    ModelLoadError,
    list_versions,
    load_version,
    new_version_id,
    save_version,
)

NOW = datetime(2026, 11, 23, 14, 45, 1, tzinfo=UTC)

TEXTS = {
    ("billing", "normal"): ["charged twice on my invoice", "fui cobrado duas vezes na fatura"],
    ("access", "normal"): ["cannot log in with my password", "não consigo entrar na conta"],
    ("outage", "high"): ["the system is down for everyone", "o sistema está fora do ar"],
}


def tiny_pipelines() -> dict:
    """Return category and priority pipelines fitted on a few bilingual tickets."""
    records, categories, priorities = [], [], []
    for (category, priority), texts in TEXTS.items():
        for i in range(6):
            records.append({"description": f"{texts[i % 2]} {'please' if i % 3 else ''}"})
            categories.append(category)
            priorities.append(priority)
    return {
        "priority": build_pipeline().fit(records, priorities),
        "category": build_pipeline().fit(records, categories),
    }


@pytest.fixture(scope="module")
def pipelines():
    return tiny_pipelines()


def save(models_dir, pipelines, **overrides):
    arguments = {
        "training": {"fingerprint": "ab" * 32, "rows": 18, "source": "test", "columns": {}},
        "metrics": {"category": {"macro_f1": 1.0}},
        "parent": None,
        "now": NOW,
    }
    arguments.update(overrides)
    return save_version(models_dir, pipelines, **arguments)


def test_version_ids_are_utc_sortable_and_strict():
    first = new_version_id(NOW)
    later = new_version_id(NOW.astimezone(timezone(timedelta(hours=-3))) + timedelta(seconds=1))
    assert first.startswith("20261123T144501Z-") and len(first) == len("20261123T144501Z-3fa2")
    assert later.startswith("20261123T144502Z-")
    assert sorted([later, first]) == [first, later]
    assert model_store.is_version_id(first)
    with pytest.raises(ValueError):
        new_version_id(datetime(2026, 11, 23, 14, 45, 1))  # naive


def test_save_writes_manifest_and_artifact(tmp_path, pipelines):
    manifest = save(tmp_path, pipelines, parent="20261101T000000Z-0a0b")
    folder = tmp_path / manifest["version"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.joblib"]
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["targets"] == ["priority", "category"]
    assert manifest["labels"] == {
        "priority": ["high", "normal"],
        "category": ["access", "billing", "outage"],
    }
    assert manifest["parent"] == "20261101T000000Z-0a0b"
    assert manifest["created_at"] == "2026-11-23T14:45:01Z"
    assert manifest["libraries"]["sklearn"] == sklearn.__version__
    assert set(manifest["libraries"]) == {"python", "sklearn", "joblib", "numpy", "scipy"}
    assert manifest["training"]["rows"] == 18 and manifest["metrics"]["category"]["macro_f1"] == 1
    digest = hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest()
    assert manifest["artifact"]["sha256"] == digest
    assert list(tmp_path.iterdir()) == [folder]  # no temp folder left behind


def test_load_round_trip_predicts_every_target(tmp_path, pipelines):
    version = save(tmp_path, pipelines)["version"]
    loaded = load_version(tmp_path, version)
    assert isinstance(loaded, LoadedModel)
    assert loaded.version == version and loaded.manifest["version"] == version
    result = loaded.predict({"subject": "Urgente", "description": "O sistema está fora do ar"})
    assert set(result) == {"priority", "category"}
    assert all(isinstance(p, Prediction) for p in result.values())
    assert (result["category"].label, result["priority"].label) == ("outage", "high")


def test_tampered_artifact_is_refused(tmp_path, pipelines):
    version = save(tmp_path, pipelines)["version"]
    path = tmp_path / version / "model.joblib"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as caught:
        load_version(tmp_path, version)
    assert caught.value.version == version
    assert "hash mismatch" in caught.value.reason


@pytest.mark.parametrize(
    ("library", "claimed", "allowed"),
    [
        ("sklearn", "1.5.2", False),
        ("numpy", "1.26.4", False),
        ("joblib", "0.9.0", False),
        ("scipy", "0.1.0", True),  # scipy is recorded but not part of the refusal rule
    ],
)
def test_other_library_versions_are_refused_before_unpickling(
    tmp_path, pipelines, monkeypatch, library, claimed, allowed
):
    version = save(tmp_path, pipelines)["version"]
    path = tmp_path / version / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["libraries"][library] = claimed
    path.write_text(json.dumps(manifest))
    if allowed:
        assert load_version(tmp_path, version).version == version
        return

    def must_not_unpickle(*args, **kwargs):
        raise AssertionError("joblib.load called before the version check")

    monkeypatch.setattr(joblib, "load", must_not_unpickle)
    with pytest.raises(ModelLoadError) as caught:
        load_version(tmp_path, version)
    assert "version mismatch" in caught.value.reason
    assert claimed in caught.value.reason


def test_missing_unreadable_and_invalid_versions(tmp_path, pipelines):
    with pytest.raises(ModelLoadError, match="missing"):
        load_version(tmp_path, "20260101T000000Z-abcd")
    for bad in ["../etc", "20261123T144501Z-3fa2/../x", "", "20261123T144501Z-3FA2", "latest"]:
        with pytest.raises(ModelLoadError, match="invalid version id"):
            load_version(tmp_path, bad)
    version = save(tmp_path, pipelines)["version"]
    (tmp_path / version / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable manifest"):
        load_version(tmp_path, version)


def test_unreadable_pickle_with_matching_hash_is_reported(tmp_path, pipelines):
    version = save(tmp_path, pipelines)["version"]
    path = tmp_path / version / "model.joblib"
    path.write_bytes(b"not a pickle")
    manifest_path = tmp_path / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifact"]["sha256"] = hashlib.sha256(b"not a pickle").hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="unreadable model file"):
        load_version(tmp_path, version)


def test_failed_save_leaves_nothing_behind(tmp_path, pipelines, monkeypatch):
    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(joblib, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        save(tmp_path, pipelines)
    assert list(tmp_path.iterdir()) == []


def test_failed_manifest_leaves_nothing_behind(tmp_path, pipelines):
    with pytest.raises(TypeError):
        save(tmp_path, pipelines, metrics={"when": object()})  # not JSON
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_nothing_behind(tmp_path, pipelines, monkeypatch):
    def broken_rename(source, target):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError, match="rename failed"):
        save(tmp_path, pipelines)
    assert list(tmp_path.iterdir()) == []


def test_list_versions_skips_temp_and_broken_folders(tmp_path, pipelines):
    first = save(tmp_path, pipelines)["version"]
    second = save(tmp_path, pipelines, now=NOW + timedelta(minutes=1), parent=first)["version"]
    (tmp_path / ".tmp-20261123T150000Z-aaaa-xyz").mkdir()
    (tmp_path / "20261123T160000Z-bbbb").mkdir()  # no manifest
    (tmp_path / "notes.txt").write_text("hello")
    listed = list_versions(tmp_path)
    assert [m["version"] for m in listed] == [first, second]
    assert listed[1]["parent"] == first
    assert list_versions(tmp_path / "absent") == []
