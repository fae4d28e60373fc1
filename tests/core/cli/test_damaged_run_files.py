"""A damaged class_names.json or run_config.json gets one clear message wherever a run is read (issue 25.10).

Before: duplicates or a dict in class_names.json were used silently by
predict and export (a labels.txt listing one class twice), and
``"model": "vgg16"`` in run_config.json made export print "unexpected
AttributeError … this is a bug".
"""

from __future__ import annotations

import json

import pytest

from tlstudio.cli import main as cli_main

DAMAGE = {
    "duplicate class": ("class_names.json", ["ants", "ants", "wasps"], "class_names"),
    "class dict": ("class_names.json", {"0": "ants", "1": "bees", "2": "wasps"}, "class_names"),
    "line break": ("class_names.json", ["ants", "be\nes", "wasps"], "class_names[1]"),
    "model is a text": ("run_config.json", None, "model"),
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """This module's copy of the session's tiny run (tests.support.tiny_model.make_run_dir): its tests damage files."""
    from tests.support.tiny_run import own_copy, tiny_run

    return own_copy(tiny_run(tmp_path_factory).parent, tmp_path_factory.mktemp("damaged") / "tiny") / "run"


@pytest.fixture
def damaged(run_dir, request):
    name, value, field = DAMAGE[request.param]
    path = run_dir / name
    good = path.read_text()
    if value is None:
        value = {**json.loads(good), "model": "vgg16"}
    path.write_text(json.dumps(value))
    yield run_dir, path, field
    path.write_text(good)


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
@pytest.mark.parametrize("command", ["predict", "export", "evaluate"])
def test_a_damaged_run_file_is_named_never_used_and_never_called_a_bug(damaged, command, tmp_path, capsys):
    run_dir, path, field = damaged
    if command == "predict" and path.name == "run_config.json":
        pytest.skip("predict reads only the model and its class names")
    args = {
        "predict": ["predict", str(run_dir), str(run_dir.parent / "data")],
        "export": ["export", str(run_dir), "--out", str(tmp_path / "out")],
        "evaluate": ["evaluate", str(run_dir)],
    }[command]
    code = cli_main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "bug" not in err and "unexpected" not in err
    assert str(path) in err and field in err and "Received:" in err
    assert not (tmp_path / "out" / "labels.txt").exists()


def test_check_class_names_refuses_duplicates_and_look_alikes():
    from tlstudio.errors import ProjectError
    from tlstudio.schemas import check_class_names

    assert check_class_names(["a", "b"], "x.json") == ["a", "b"]
    for names, fragment in ((["a", "a"], "twice"), (["caf\u00e9", "cafe\u0301"], "look the same"), ([" a"], "space"), (["a\nb"], "line break")):
        with pytest.raises(ProjectError, match=fragment) as info:
            check_class_names(names, "x.json")
        assert "x.json" in str(info.value) and "Received:" in str(info.value)
