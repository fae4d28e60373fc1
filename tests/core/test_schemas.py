"""Every file tlstudio reads back is checked: one message naming file, field, expectation and Received."""

import json

import pytest

from tlstudio.config import RunConfig, to_dict, to_json
from tlstudio.errors import ProjectError
from tlstudio.project import Project
from tlstudio.run_folders import check_run_folder, load_history, load_run_config
from tlstudio.schemas import check_history, load_calc_spec, read_json


def _project_file(tmp_path, **changes):
    data = Project.new("p").to_dict()
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / "p.tlsproj"
    path.write_text(json.dumps(data))
    return path


def _run_entry(run_dir, **changes):
    entry = {"id": "r1", "run_dir": str(run_dir), "history": [{"epoch": 0, "phase": 1, "loss": 0.5}], "epochs_completed": 1}
    entry.update(changes)
    return entry


def _one_message(message, *fragments):
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_weights_field_that_is_a_number_refuses_the_project(tmp_path):
    path = _project_file(tmp_path, model={"weights": 5})
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    _one_message(str(info.value), str(path), "model.weights must be a text", "Received: model.weights=5")


@pytest.mark.parametrize(
    "entry, fragments",
    [
        ({"epochs_completed": "abc"}, ("runs[0].epochs_completed must be a whole number >= 0", 'Received: runs[0].epochs_completed="abc"')),
        ({"history": [1, 2]}, ("runs[0].history[0] must be an object", "Received: runs[0].history[0]=1")),
        ({"history": {"loss": 1}}, ("runs[0].history must be a list of epochs", 'Received: runs[0].history={"loss": 1}')),
        ({"best_metrics": {"val_accuracy": "high"}}, ("runs[0].best_metrics.val_accuracy must be a number",)),
        ({"config": {"train": {"batch_size": 2.5}}}, ("runs[0].config.train.batch_size must be a whole number", "Received: runs[0].config.train.batch_size=2.5")),
        ({"class_names": "cats"}, ("runs[0].class_names must be a list of class names",)),
    ],
)
def test_a_bad_run_entry_marks_that_run_damaged_and_the_project_opens(tmp_path, entry, fragments):
    good = _run_entry(tmp_path / "good", id="good")
    path = _project_file(tmp_path, runs=[_run_entry(tmp_path / "bad", **entry), good])
    project = Project.load(path)
    bad, ok = project.runs
    assert bad.id == "r1" and bad.damaged and bad.summary()["status"] == "damaged"
    _one_message(bad.damaged, str(path), *fragments)
    assert not ok.damaged and ok.history == good["history"]
    assert project.problems == [f"Run r1 is damaged: {bad.damaged}"]
    project.save()  # the damaged entry is written back as it was: nothing lost
    assert json.loads(path.read_text())["runs"][0] == _run_entry(tmp_path / "bad", **entry)


def test_a_damaged_history_json_marks_only_that_run(tmp_path):
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "run_config.json").write_text(to_json(RunConfig()))
        (folder / "history.json").write_text(json.dumps([{"epoch": 0, "phase": 1, "loss": 0.4}]))
        runs.append(_run_entry(folder, id=name))
    (tmp_path / "b" / "history.json").write_text('[{"epoch": 0, "loss": "nan?"}]')
    project = Project.load(_project_file(tmp_path, runs=runs))
    a, b = project.runs
    assert not a.damaged
    _one_message(b.damaged, str(tmp_path / "b" / "history.json"), "history[0].loss must be a number", 'Received: history[0].loss="nan?"')


def test_a_truncated_history_json_marks_the_run_damaged(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "history.json").write_bytes(b'[{"epoch": 0, "lo')
    project = Project.load(_project_file(tmp_path, runs=[{"id": "r", "run_dir": str(folder)}]))
    _one_message(project.runs[0].damaged, str(folder / "history.json"), "is not valid JSON", "Received:")


@pytest.mark.parametrize(
    "content, fragments",
    [
        (b"", ("not valid JSON", "Received: an empty file")),
        (b'{"name": "caf\xe9"}', ("name is not UTF-8 text (byte 0xe9 on line 1)",)),
        (b"[1, 2]", ("expected a JSON object (a tlstudio project). Received: [1, 2]",)),
        (b'{"schema_version": 1, "runs": 3}', ("runs must be a list of run entries. Received: runs=3",)),
        (b'{"schema_version": 1, "train": {"seed": "x"}}', ("train.seed must be a whole number", 'Received: train.seed="x"')),
        (b'{"schema_version": 1, "data": {"val_fraction": 2}}', ("data: val_fraction must be within [0, 1)",)),
        (b'{"runs": 3}', ("schema-0 project but cannot be upgraded", "Received: TypeError")),
    ],
)
def test_a_malformed_project_file_gives_one_message(tmp_path, content, fragments):
    path = tmp_path / "p.tlsproj"
    path.write_bytes(content)
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    _one_message(str(info.value), str(path), *fragments)


def test_run_folder_files(tmp_path):
    (tmp_path / "run_config.json").write_text(json.dumps({**to_dict(RunConfig()), "train": {"seed": "x"}}))
    with pytest.raises(ProjectError) as info:
        load_run_config(tmp_path)
    _one_message(str(info.value), str(tmp_path / "run_config.json"), "train.seed must be a whole number", 'Received: train.seed="x"')
    with pytest.raises(ProjectError, match="must be a whole number"):
        check_run_folder(tmp_path, open_weights=False)
    (tmp_path / "run_config.json").write_text(to_json(RunConfig()))
    (tmp_path / "history.json").write_text('[{"epoch": 0, "phase": 3}]')
    with pytest.raises(ProjectError, match=r"history\[0\].phase must be 1 or 2. Received: history\[0\].phase=3"):
        load_history(tmp_path)
    (tmp_path / "history.json").write_text("[]")
    (tmp_path / "result.json").write_text('{"best_metrics": [1]}')
    with pytest.raises(ProjectError, match="best_metrics must be an object"):
        check_run_folder(tmp_path, open_weights=False)
    (tmp_path / "result.json").write_text("{}")
    (tmp_path / "last.weights.h5").write_bytes(b"")
    with pytest.raises(ProjectError, match="the checkpoint is damaged"):
        check_run_folder(tmp_path)
    assert check_history([]) == []


def test_read_json_refuses_large_files(tmp_path, monkeypatch):
    import tlstudio.schemas as schemas

    monkeypatch.setattr(schemas, "MAX_JSON_BYTES", 10)
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 20 + "1]")
    with pytest.raises(ProjectError, match="too large.*Received: 43 bytes"):
        read_json(path)


def test_calculator_specs_go_through_the_calculators_own_checks(tmp_path):
    from tlstudio.shapes.calculator import CalculatorError

    spec = tmp_path / "spec.json"
    spec.write_bytes(b'{"input_shape": "ab", "layers": []}')
    with pytest.raises(CalculatorError) as info:
        load_calc_spec(spec)
    assert str(spec) in str(info.value) and "Received" in str(info.value)
