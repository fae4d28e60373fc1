"""The project keeps its last probe, map and sweep (issue 24): reopening shows what it showed, and says when stale."""

from __future__ import annotations

import json

import numpy as np

from tlstudio.api.embed import EmbedConfig, EmbedResult
from tlstudio.api.probe import CutScore, ProbeConfig, ProbeResult
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.project import Project
from tlstudio.project.analysis_records import MapRecord, ProbeRecord


def _probe() -> tuple[ProbeConfig, ProbeResult]:
    config = ProbeConfig(DataConfig(root="/d"), ModelConfig(backbone="vgg16", weights="none", image_size=32), folds=3)
    result = ProbeResult(
        cuts=(CutScore("block1_pool", 0.5, 0.05, 64, 0, "avg", (("avg", 0.5, 0.05), ("max", 0.45, 0.02))),
              CutScore("block2_pool", 0.8, 0.02, 128, 1, "max", (("avg", 0.7, 0.01), ("max", 0.8, 0.02)))),
        best="block2_pool", explanation="block2 transfers best", class_names=("a", "b"), num_images=20, folds=3,
        chance=0.5, seconds=1.5,
    )
    return config, result


def _map() -> tuple[EmbedConfig, EmbedResult]:
    config = EmbedConfig(DataConfig(root="/d"), ModelConfig(backbone="vgg16", weights="none", image_size=32), model_path="/r/model.keras")
    result = EmbedResult(
        coords=np.array([[0.1, -0.2], [0.5, 0.25], [-1.0, 1.0]], np.float32), labels=np.array([0, 1, 1]),
        paths=("/d/a/1.png", "/d/b/2.png", "/d/b/3.png"), splits=("train", "val", "train"), class_names=("a", "b"),
        predicted=np.array([0, 0, 1]), predicted_names=("a", "a", "b"), method="tsne", cut="block5_pool", seconds=2.0,
        model_path="/r/model.keras", root="/d",
    )
    return config, result


def test_the_probe_map_and_sweep_round_trip_through_the_project_file(tmp_path):
    project = Project.new(dataset="/d")
    probe_config, probe_result = _probe()
    map_config, map_result = _map()
    project.set_probe(ProbeRecord.of(probe_config, probe_result, "sha256:files"))
    project.set_map(MapRecord.of(map_config, map_result, "sha256:files"))
    project.set_sweep_folder(str(tmp_path / "cache" / "sweeps" / "sweep-1"))
    assert project.dirty
    again = Project.load(project.save(tmp_path / "p.tlsproj"))
    assert again.probe.config == probe_config and again.probe.result == probe_result
    assert again.probe.fingerprint == "sha256:files" and again.probe.ran.endswith("Z")
    restored = again.map.result
    assert np.allclose(restored.coords, map_result.coords) and restored.coords.dtype == np.float32
    assert restored.labels.tolist() == [0, 1, 1] and restored.predicted.tolist() == [0, 0, 1]
    assert (restored.paths, restored.splits, restored.predicted_names) == (map_result.paths, map_result.splits, map_result.predicted_names)
    assert restored.model_path == "/r/model.keras" and restored.root == "/d" and again.map.config == map_config
    assert again.sweep_folder == str(tmp_path / "cache" / "sweeps" / "sweep-1")
    assert again.problems == []


def test_a_damaged_probe_or_map_record_is_dropped_and_said_so(tmp_path):
    project = Project.new(dataset="/d")
    project.set_probe(ProbeRecord.of(*_probe(), "sha256:x"))
    project.set_map(MapRecord.of(*_map(), "sha256:x"))
    data = project.to_dict()
    data["probe"]["result"]["cuts"][0]["cv_accuracy"] = "high"
    data["map"]["result"]["coords"] = [[0.1]]
    path = tmp_path / "p.tlsproj"
    path.write_text(json.dumps(data))
    again = Project.load(path)
    assert again.probe is None and again.map is None
    assert any("probe" in p and "run the probe again" in p for p in again.problems)
    assert any("map" in p and "compute the map again" in p for p in again.problems)
    assert again.runs == []  # the rest of the project opens
