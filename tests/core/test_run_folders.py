"""The run folder: its file names, the one checked loader of each file, and the resume plan."""

from __future__ import annotations

import json

import pytest

from tlstudio import run_folders
from tlstudio.config import DataConfig, ResumePlan, RunConfig, TrainConfig, from_dict, from_json, to_dict, to_json
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.run_folders import (
    RUN_ENTRIES,
    RunFolder,
    check_run_folder,
    has_marker,
    load_history,
    load_run_config,
    marker_text,
    plan_resume,
    resume_config,
)


def _run(folder, history, plan=(3, 0)):
    folder.mkdir(parents=True)
    config = RunConfig(data=DataConfig(root="/data"), train=TrainConfig(epochs=plan[0], fine_tune_epochs=plan[1]))
    (folder / "run_config.json").write_text(to_json(config))
    (folder / "history.json").write_text(json.dumps(history))
    return folder


def test_the_file_names_of_a_run_folder():
    # the names older run folders hold: renaming one would orphan every run made before
    assert (run_folders.RUN_CONFIG, run_folders.HISTORY, run_folders.RESULT, run_folders.CLASS_NAMES) == (
        "run_config.json", "history.json", "result.json", "class_names.json")
    assert (run_folders.BEST_WEIGHTS, run_folders.LAST_WEIGHTS, run_folders.MODEL, run_folders.RUN_MARKER) == (
        "best.weights.h5", "last.weights.h5", "model.keras", ".tlstudio-run")
    folder = RunFolder("/runs/a")
    paths = [folder.run_config, folder.class_names, folder.dataset_report, folder.history, folder.best_weights,
             folder.last_weights, folder.model, folder.result, folder.logs, folder.split_manifest, folder.auto_head,
             folder.marker, folder.report, folder.lock]
    assert {p.name for p in paths} == set(RUN_ENTRIES)
    assert all(str(p.parent) == "/runs/a" for p in paths)


def test_run_folder_knows_a_run_and_a_checkpoint(tmp_path):
    folder = RunFolder(tmp_path)
    assert not folder.is_run() and not folder.can_resume() and not folder.has_marker()
    (tmp_path / "run_config.json").write_text(to_json(RunConfig()))
    (tmp_path / "last.weights.h5").write_bytes(b"")
    assert folder.is_run() and folder.can_resume()
    assert folder.load_config() == RunConfig()


def test_marker(tmp_path):
    (tmp_path / ".tlstudio-run").write_text(marker_text())
    assert has_marker(tmp_path)
    assert json.loads(marker_text())["format"] == "tlstudio-run"
    (tmp_path / ".tlstudio-run").write_text('{"format": "something else"}')
    assert not has_marker(tmp_path)


def test_there_is_one_run_config_loader():
    from tlstudio import schemas
    from tlstudio.run_folders import run_files
    from tlstudio.training import result

    for module in (schemas, result):
        for name in ("load_run_config", "load_history", "read_history", "check_run_folder", "RUN_CONFIG", "HISTORY"):
            # absent, or the run folder's own (imported), never a second definition
            assert getattr(module, name, getattr(run_files, name)) is getattr(run_files, name), f"{module.__name__}.{name}"
    assert not hasattr(schemas, "load_run_config") and not hasattr(result, "load_run_config")


def test_the_loader_rejects_a_damaged_run_config_with_a_clear_message(tmp_path):
    path = tmp_path / "run_config.json"
    path.write_text(json.dumps({**to_dict(RunConfig()), "train": {"batch_size": 2.5}}))
    with pytest.raises(ProjectError) as info:
        load_run_config(tmp_path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "train.batch_size must be a whole number. Received: train.batch_size=2.5" in message
    path.write_text(json.dumps({**to_dict(RunConfig()), "train": {"optimizer": "rmsprop"}}))
    with pytest.raises(ProjectError, match=r"optimizer must be one of .*Received: 'rmsprop'"):
        load_run_config(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ProjectError, match="is not valid JSON"):
        load_run_config(tmp_path)
    path.unlink()
    with pytest.raises(ProjectError, match="is not a tlstudio run folder: run_config.json is missing. Received: run_dir="):
        load_run_config(tmp_path)


def test_history_is_checked_too(tmp_path):
    assert load_history(tmp_path) == []
    (tmp_path / "history.json").write_text('[{"epoch": 0, "phase": 1, "loss": "low"}]')
    with pytest.raises(ProjectError, match=r"history\[0\].loss must be a number. Received: history\[0\].loss=\"low\""):
        load_history(tmp_path)
    with pytest.raises(ProjectError, match="must be a number"):
        check_run_folder(tmp_path, open_weights=False)
    with pytest.raises(ProjectError, match="must be a number"):
        resume_config(_run(tmp_path / "r", [{"epoch": 0, "phase": 1, "loss": "low"}]))


def test_resume_keeps_the_planned_epochs_and_names_the_remaining_ones(tmp_path):
    folder = _run(tmp_path / "run", [{"epoch": 0, "phase": 1}, {"epoch": 1, "phase": 1}], plan=(3, 2))
    config = resume_config(folder)
    assert (config.train.epochs, config.train.fine_tune_epochs) == (3, 2)  # planned: as run_config.json says
    plan = config.resume_plan
    assert (plan.epochs_done, plan.fine_tune_epochs_done) == (2, 0)
    assert (plan.remaining_epochs, plan.remaining_fine_tune_epochs) == (1, 2)
    assert config.session_epochs() == (1, 2) and RunConfig().session_epochs() == (5, 0)
    assert config.resume_from == config.run_dir == str(folder)
    # more than the plan has left: the plan grows, and the session trains what was asked
    more = resume_config(folder, epochs=4, fine_tune_epochs=0)
    assert (more.train.epochs, more.train.fine_tune_epochs) == (6, 2)
    assert more.session_epochs() == (4, 0)


def test_resume_after_phase_two_started_trains_no_more_head_epochs(tmp_path):
    folder = _run(tmp_path / "run", [{"epoch": 0, "phase": 1}, {"epoch": 1, "phase": 2}], plan=(3, 2))
    assert resume_config(folder).session_epochs() == (0, 1)


def test_a_completed_plan_needs_more_epochs(tmp_path):
    done = _run(tmp_path / "done", [{"epoch": i, "phase": 1} for i in range(3)])
    with pytest.raises(ConfigError, match="already completed its 3 planned epochs.*Received: epochs=0, fine_tune_epochs=0"):
        resume_config(done)
    with pytest.raises(ConfigError, match="already completed"):
        plan_resume(load_run_config(done), load_history(done))


def test_the_resume_plan_round_trips_and_is_validated():
    config = RunConfig(resume_from="/r", resume_plan=ResumePlan(2, 0, 1, 3))
    assert from_json(RunConfig, to_json(config)) == config
    assert from_json(RunConfig, to_json(RunConfig())).resume_plan is None
    with pytest.raises(ConfigError, match="remaining_epochs must be a whole number >= 0. Received: remaining_epochs=-1"):
        ResumePlan(remaining_epochs=-1, remaining_fine_tune_epochs=2)
    with pytest.raises(ConfigError, match="at least one epoch"):
        ResumePlan(epochs_done=3)
    with pytest.raises(ConfigError, match=r"resume_plan.remaining_epochs must be a whole number\. Received: resume_plan.remaining_epochs=\"x\""):
        from_dict(RunConfig, {"resume_plan": {"remaining_epochs": "x"}})
