"""Project file: round-trip, schema versions, autosave recovery, run history, config diff."""

import json
import os
import time
from pathlib import Path
from dataclasses import replace

import pytest

from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json
from tlstudio.errors import ProjectError
from tlstudio.project import SCHEMA_VERSION, Project, autosave_path, config_diff, recover
from tlstudio.api.train import RunResult


def _history(n, start_acc=0.5):
    return tuple(
        {"epoch": i, "phase": 1, "loss": 1.0 / (i + 1), "accuracy": start_acc + 0.1 * i, "val_loss": 1.2 / (i + 1), "val_accuracy": start_acc + 0.05 * i, "lr": 1e-3, "seconds": 1.0}
        for i in range(n)
    )


def _run_folder(tmp_path, name, config, epochs=2, cancelled=False):
    run_dir = tmp_path / "runs" / name
    run_dir.mkdir(parents=True)
    (run_dir / ".tlstudio-run").write_text('{"format": "tlstudio-run", "version": 1}')
    (run_dir / "run_config.json").write_text(to_json(config))
    history = _history(epochs)
    (run_dir / "history.json").write_text(json.dumps(list(history)))
    (run_dir / "logs").mkdir()
    best = dict(history[-1])
    result = RunResult(
        run_dir=str(run_dir), model_path=str(run_dir / "model.keras"), best_metrics=best, history=history,
        class_names=("ants", "bees"), cancelled=cancelled, epochs_completed=epochs,
    )
    (run_dir / "result.json").write_text(json.dumps({k: v for k, v in result.to_dict().items() if k != "history"}))
    return result


def test_round_trip_keeps_configs_and_runs(tmp_path):
    config = RunConfig(
        data=DataConfig(root="/data/ants-bees", val_fraction=0.25),
        model=ModelConfig(backbone="resnet50", weights="none", image_size=64),
        train=TrainConfig(epochs=3, learning_rate=0.01),
    )
    project = Project.new("demo", data=config.data, model=config.model, train=config.train)
    project.add_run(_run_folder(tmp_path, "run-a", config), config)
    project.set_notes("run-a", "first try")
    path = project.save(tmp_path / "demo.tlsproj")
    assert not project.dirty
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and raw["dataset"] == "/data/ants-bees"

    again = Project.load(path)
    assert (again.data, again.model, again.train) == (config.data, config.model, config.train)
    assert again.dataset == "/data/ants-bees" and again.name == "demo"
    (run,) = again.runs
    assert run.id == "run-a" and run.status == "finished" and run.notes == "first try"
    assert run.run_config == config
    assert [h["epoch"] for h in run.history] == [0, 1]
    assert run.best_metrics["val_accuracy"] == pytest.approx(0.55)
    assert run.summary()["backbone"] == "resnet50"
    assert not again.dirty


def test_newer_schema_gets_a_clear_message(tmp_path):
    path = tmp_path / "future.tlsproj"
    path.write_text(json.dumps({"schema_version": 3, "runs": []}))
    with pytest.raises(ProjectError, match=r"made by a newer tlstudio \(schema 3\); this version reads up to 1") as info:
        Project.load(path)
    assert str(path) in str(info.value) and info.value.path == str(path)


def test_v0_file_is_migrated(tmp_path):
    config = RunConfig(data=DataConfig(root="/old/data"), model=ModelConfig(backbone="vgg16", weights="none"))
    run = _run_folder(tmp_path, "old-run", config, epochs=3)
    # Hand-written v0 file: no schema_version, one "config" block, runs as folder paths.
    old = {
        "name": "legacy",
        "dataset": "/old/data",
        "config": {
            "data": {"val_fraction": 0.3, "seed": 7},
            "model": {"backbone": "vgg16", "weights": "none", "image_size": 96},
            "train": {"epochs": 4, "batch_size": 8},
        },
        "runs": [run.run_dir, {"dir": str(tmp_path / "gone"), "notes": "deleted later"}],
    }
    path = tmp_path / "legacy.tlsproj"
    path.write_text(json.dumps(old))

    project = Project.load(path)
    assert project.dirty  # migrated in memory, not yet saved in the new schema
    assert project.data.root == "/old/data" and project.data.val_fraction == 0.3 and project.data.seed == 7
    assert project.model.image_size == 96 and project.train.epochs == 4 and project.train.batch_size == 8
    first, second = project.runs
    assert first.id == "old-run" and len(first.history) == 3 and first.status == "finished"  # refreshed from its folder
    assert second.id == "gone" and second.history == [] and second.notes == "deleted later"

    project.save()
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_broken_files_raise_project_errors(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        Project.load(tmp_path / "missing.tlsproj")
    bad = tmp_path / "bad.tlsproj"
    bad.write_text("{not json")
    with pytest.raises(ProjectError, match="not valid JSON"):
        Project.load(bad)
    with pytest.raises(ProjectError, match="no file yet"):
        Project.new().save()


def test_autosave_recovery_after_a_crash(tmp_path):
    path = tmp_path / "p.tlsproj"
    project = Project.new("p", dataset="/d")
    project.save(path)
    assert recover(path) is None

    project.session = "1111-crashed"  # the session that is about to crash
    project.set_configs(train=TrainConfig(epochs=9))
    side = project.autosave()
    assert side == autosave_path(path, "1111-crashed") and side.name == "p.tlsproj.1111-crashed.autosave"
    os.utime(side, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # newer than the project file
    # ... the app dies here without saving. Next start (this test's session):
    assert recover(path) == side
    assert recover(path, own_session="1111-crashed") is None  # a session never recovers its own live work
    assert Project.load(path).train.epochs == 5  # the project file itself is untouched
    recovered = Project.recover(path)
    assert recovered.train.epochs == 9 and recovered.path == path and recovered.dirty
    recovered.autosave()  # the recovered work autosaves to this session's own file...
    assert side.exists()  # ...and the crashed session's file stays until a save
    recovered.save()
    assert not side.exists() and recover(path) is None
    assert not autosave_path(path).exists()


def test_each_session_autosaves_to_its_own_file(tmp_path):
    path = tmp_path / "p.tlsproj"
    Project.new("p").save(path)
    crashed = Project.load(path)
    crashed.session = "1111-crashed"
    crashed.set_configs(train=TrainConfig(epochs=9))
    crashed_side = crashed.autosave()
    os.utime(crashed_side, ns=(time.time_ns() + 10**9,) * 2)
    current = Project.load(path)  # the next session edits before answering the recovery offer
    current.set_configs(train=TrainConfig(epochs=3))
    own = current.autosave()
    assert own != crashed_side
    assert Project.load(crashed_side).train.epochs == 9  # not written over
    assert recover(path) == crashed_side


def test_the_old_shared_autosave_is_still_offered(tmp_path):
    path = tmp_path / "p.tlsproj"
    Project.new("p").save(path)
    legacy = autosave_path(path, None)
    assert legacy.name == "p.tlsproj.autosave"
    legacy.write_text(json.dumps(Project.new("p", train=TrainConfig(epochs=7)).to_dict()))
    os.utime(legacy, ns=(time.time_ns() + 10**9,) * 2)
    assert recover(path) == legacy and Project.recover(path).train.epochs == 7


def test_older_autosave_is_not_offered(tmp_path):
    path = tmp_path / "p.tlsproj"
    project = Project.new("p")
    project.save(path)
    side = project.autosave()
    os.utime(side, ns=(1, 1))
    assert recover(path) is None


def test_untitled_autosave_lives_in_the_cache(tmp_path, monkeypatch):
    # A cache of its own: windows of other tests leave untitled autosaves in the session's cache.
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    project = Project.new()
    project.session = "2222-other"
    side = project.autosave()
    assert side.parent.name == "autosave" and str(side).startswith(os.environ["TLSTUDIO_CACHE_DIR"])
    assert recover(None) == side
    project.save(side.parent.parent / "named.tlsproj")
    assert recover(None) is None


def test_resumed_run_updates_its_record(tmp_path):
    config = RunConfig(data=DataConfig(root="/d"))
    first = _run_folder(tmp_path, "r", config, epochs=2, cancelled=True)
    project = Project.new()
    record = project.add_run(first)
    assert record.status == "cancelled" and record.run_config == config
    resumed = replace(first, history=_history(4), epochs_completed=4, cancelled=False)
    project.add_run(resumed)
    assert len(project.runs) == 1 and project.runs[0].epochs_completed == 4 and project.runs[0].status == "finished"


def test_remove_run_can_delete_files(tmp_path):
    config = RunConfig()
    project = Project.new()
    a = project.add_run(_run_folder(tmp_path, "a", config))
    b = project.add_run(_run_folder(tmp_path, "b", config))
    project.remove_run(a.id)
    assert os.path.isdir(a.run_dir) and [r.id for r in project.runs] == ["b"]
    project.remove_run(b.id, delete_files=True)
    assert not os.path.exists(b.run_dir) and project.runs == []
    with pytest.raises(ProjectError, match="no run 'a'"):
        project.remove_run("a")


def test_compare_runs_curves_and_config_diff(tmp_path):
    base = RunConfig(data=DataConfig(root="/d"), model=ModelConfig(weights="none"))
    other = replace(base, train=replace(base.train, learning_rate=0.01), model=replace(base.model, backbone="resnet50"))
    project = Project.new()
    project.add_run(_run_folder(tmp_path, "a", base, epochs=2))
    project.add_run(_run_folder(tmp_path, "b", other, epochs=3))
    cmp = project.compare_runs(["a", "b"])
    assert cmp.curves["a"]["epoch"] == [1, 2] and cmp.curves["b"]["epoch"] == [1, 2, 3]
    assert cmp.curves["b"]["val_accuracy"] == pytest.approx([0.5, 0.55, 0.6])
    assert cmp.config_diff == [("model.backbone", "vgg16", "resnet50"), ("train.learning_rate", 0.001, 0.01)]
    with pytest.raises(ProjectError, match="two or more"):
        project.compare_runs(["a"])


def test_config_diff_marks_missing_keys():
    assert config_diff([{"a": {"x": 1}}, {"a": {"x": 1, "y": 2}}]) == [("a.y", None, 2)]
    assert config_diff([{"run_dir": "1"}, {"run_dir": "2"}]) == []


# --------------------------------------------------------------------------- the last audit


def _audit_result():
    from tlstudio.api.audit import AuditResult, DuplicateGroup, Imbalance, LabelIssue, Outlier

    return AuditResult(
        duplicates=(DuplicateGroup("near", ("/d/a/1.jpg", "/d/b/2.jpg"), ("train", "val"), True, 0.9876),),
        label_issues=(LabelIssue("/d/a/3.jpg", "a", "b", 0.75),), outliers=(Outlier("/d/b/4.jpg", 0.5),),
        imbalance=Imbalance({"a": 10, "b": 5}, 2.0, "Collect more b."), class_names=("a", "b"), num_images=15,
        cut="block5_pool", seconds=1.5,
    )


def test_the_last_audit_round_trips_and_covers_only_the_same_files(tmp_path):
    from tlstudio.project.audit_record import AuditRecord, file_list_fingerprint

    files = [str(tmp_path / "data" / "a" / f"{i}.jpg") for i in range(3)]
    fingerprint = file_list_fingerprint(files)
    assert fingerprint == file_list_fingerprint(reversed(files + files[:1]))  # order and repeats do not matter
    assert fingerprint != file_list_fingerprint(files[:2]) and fingerprint != file_list_fingerprint(files + ["/x.jpg"])
    project = Project.new(dataset=str(tmp_path / "data"))
    project.set_audit(AuditRecord.from_result(_audit_result(), str(tmp_path / "data"), fingerprint))
    path = project.save(tmp_path / "p.tlsproj")
    again = Project.load(path)
    record = again.audit
    assert record is not None and record.fingerprint == fingerprint and record.ran.endswith("Z")
    assert record.summary == {"num_images": 15, "label_issues": 1, "duplicates": 1, "leaks": 1, "outliers": 1, "cut": "block5_pool"}
    assert record.result() == _audit_result()  # the findings come back whole
    assert record.covers(str(tmp_path / "data"), fingerprint)
    assert record.covers(str(tmp_path / "data" / "."), fingerprint)  # the same folder, spelt differently
    assert not record.covers(str(tmp_path / "data"), file_list_fingerprint(files[:2]))  # files changed
    assert not record.covers(str(tmp_path / "other"), fingerprint) and not record.covers(str(tmp_path / "data"), "")


def test_a_damaged_audit_record_is_dropped_and_said_so(tmp_path):
    from tlstudio.project.audit_record import AuditRecord

    project = Project.new(dataset="/d")
    project.set_audit(AuditRecord.from_result(_audit_result(), "/d", "sha256:x"))
    data = project.to_dict()
    data["audit"]["findings"]["label_issues"][0]["score"] = "high"
    path = tmp_path / "p.tlsproj"
    path.write_text(json.dumps(data))
    again = Project.load(path)
    assert again.audit is None
    assert again.problems == [
        "The last audit's record is damaged and was dropped (run the audit again): "
        f"{path}: audit.findings.label_issues[0].score must be a number. Received: audit.findings.label_issues[0].score=\"high\""
    ]
    data["audit"] = "yesterday"
    path.write_text(json.dumps(data))
    assert "audit must be an object. Received: audit=\"yesterday\"" in Project.load(path).audit_problem
    del data["audit"]
    path.write_text(json.dumps(data))
    assert Project.load(path).audit is None and Project.load(path).problems == []  # older files have none


def test_a_run_cancelled_before_its_first_epoch_is_marked_and_kept_out_of_comparisons(tmp_path):
    """Issue 24: it said "Model saved to …" and entered the history as a normal run."""
    config = RunConfig(data=DataConfig(root="/d"), model=ModelConfig(weights="none"))
    project = Project.new(dataset="/d")
    trained = project.add_run(_run_folder(tmp_path, "trained", config), config)
    other = project.add_run(_run_folder(tmp_path, "other", config, epochs=3), config)
    empty = RunResult(run_dir=str(tmp_path / "runs" / "empty"), cancelled=True, epochs_completed=0, class_names=("a", "b"))
    (tmp_path / "runs" / "empty").mkdir()
    (tmp_path / "runs" / "empty" / "run_config.json").write_text(to_json(config))
    (tmp_path / "runs" / "empty" / "result.json").write_text(json.dumps({k: v for k, v in empty.to_dict().items() if k != "history"}))
    (tmp_path / "runs" / "empty" / "history.json").write_text("[]")
    record = project.add_run(empty, config)
    assert record.status == "no epoch completed" and record.model_path is None
    again = Project.load(project.save(tmp_path / "p.tlsproj"))
    assert again.get_run(record.id).status == "no epoch completed" and again.problems == []
    assert again.compare_runs([trained.id, other.id]).ids == (trained.id, other.id)
    with pytest.raises(ProjectError, match=f"{record.id} completed no epoch"):
        again.compare_runs([trained.id, record.id])


def test_a_project_and_its_runs_with_the_old_mixed_precision_switch_still_load(tmp_path):
    from tlstudio.run_folders import load_run_config

    config = RunConfig(data=DataConfig(root="/data"), model=ModelConfig(backbone="vgg16", weights="none"))
    run = _run_folder(tmp_path, "old-run", config)
    run_file = Path(run.run_dir) / "run_config.json"
    old_run = json.loads(run_file.read_text())
    del old_run["train"]["precision"]
    old_run["train"]["mixed_precision"] = False
    run_file.write_text(json.dumps(old_run))
    assert load_run_config(run.run_dir).train.precision == "float32"  # what that run computed in

    data = Project.new("old", data=config.data, model=config.model, train=config.train).to_dict()
    del data["train"]["precision"]
    data["train"]["mixed_precision"] = True
    path = tmp_path / "old.tlsproj"
    path.write_text(json.dumps(data))
    assert Project.load(path).train.precision == "auto"  # the old switch asked for float16 on a GPU: auto does


def test_the_audits_note_on_weak_features_survives_a_reopen(tmp_path):
    from dataclasses import replace as swap

    from tlstudio.project.audit_record import AuditRecord

    result = swap(_audit_result(), oof_accuracy=0.62, label_note="The features separate these classes only to 62%")
    project = Project.new(dataset="/d")
    project.set_audit(AuditRecord.from_result(result, "/d", "sha256:x"))
    again = Project.load(project.save(tmp_path / "p.tlsproj")).audit.result()
    assert again.label_note == result.label_note and again.oof_accuracy == 0.62


def test_a_pixel_outlier_keeps_its_kind_and_reason_and_an_older_record_reads_as_features(tmp_path):
    import dataclasses

    from tlstudio.api.audit import Outlier
    from tlstudio.project.audit_record import AuditRecord

    result = dataclasses.replace(_audit_result(), outliers=(
        Outlier("/d/a/placeholder.gif", 6.2, "pixels", "almost no colour (colourfulness 0.3; the dataset's median 52)"),
        Outlier("/d/b/4.jpg", 0.5)))
    project = Project.new(dataset="/d")
    project.set_audit(AuditRecord.from_result(result, "/d", "sha256:x"))
    path = project.save(tmp_path / "p.tlsproj")
    assert Project.load(path).audit.result().outliers == result.outliers
    data = json.loads(path.read_text())
    for outlier in data["audit"]["findings"]["outliers"]:  # as a file written before pixel outliers
        del outlier["kind"], outlier["reason"]
    path.write_text(json.dumps(data))
    assert [o.kind for o in Project.load(path).audit.result().outliers] == ["features", "features"]
    data["audit"]["findings"]["outliers"][0]["kind"] = "vibes"
    path.write_text(json.dumps(data))
    again = Project.load(path)
    assert again.audit is None and "audit.findings.outliers[0].kind" in again.audit_problem and "vibes" in again.audit_problem
