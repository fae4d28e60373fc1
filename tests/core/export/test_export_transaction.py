"""The export folder is one transaction (issue 25, item 2).

The issue's case: an export killed after renaming its model files into place
but before writing ``labels.txt`` / ``model.json`` left run Y's model beside
run X's labels, and ``predict`` printed the wrong class. Here an export of
model Y over model X's export is stopped (``KeyboardInterrupt``, as a kill
would stop it) at each step after its files are written; the folder must
hold X's complete export or Y's, never a mix. Tiny models, 32 px.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tlstudio.config import ExportConfig
from tlstudio.export import exporter as exporter_module
from tlstudio.export import export_model
from tlstudio.io import staged_folder as staged_module
from tests.support.tiny_model import CLASS_NAMES, build_tiny_model

OTHER_NAMES = ["cat", "dog", "eel"]


def _digest(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def models():
    return build_tiny_model(seed=3), build_tiny_model(seed=5)


def _config(out: Path, **kw) -> ExportConfig:
    return ExportConfig(formats=kw.pop("formats", ("keras", "savedmodel")), out_dir=str(out), verify=False, **kw)


@pytest.mark.parametrize("stop_at", ["labels", "metadata", "swap"])
def test_an_export_stopped_after_its_files_leaves_the_old_export_whole(models, tmp_path, monkeypatch, stop_at):
    x, y = models
    out = tmp_path / "out"
    export_model(x, _config(out), metadata={"class_names": CLASS_NAMES})
    (out / "notes.md").write_text("the user's own notes")  # not the export's: kept whatever happens
    before = _digest(out)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("simulated kill")

    if stop_at == "labels":
        monkeypatch.setattr(exporter_module, "atomic_write_text", killed)
    elif stop_at == "metadata":
        monkeypatch.setattr(exporter_module, "atomic_write_json", killed)
    else:  # the moment the finished folder is to replace the old one
        monkeypatch.setattr(staged_module, "_swap", killed, raising=False)
    with pytest.raises(KeyboardInterrupt):
        export_model(y, _config(out, overwrite=True), metadata={"class_names": OTHER_NAMES})
    monkeypatch.undo()
    assert _digest(out) == before  # X's export, whole: its models with its labels
    assert (out / "labels.txt").read_text().split() == CLASS_NAMES
    assert not [p.name for p in out.parent.iterdir() if p.name != "out"]  # no staging folder left beside it

    export_model(y, _config(out, overwrite=True), metadata={"class_names": OTHER_NAMES})  # then it goes through
    assert (out / "labels.txt").read_text().split() == OTHER_NAMES
    assert (out / "notes.md").read_text() == "the user's own notes"
    assert not [p.name for p in out.parent.iterdir() if p.name != "out"]


def test_an_export_keeps_the_other_formats_of_the_earlier_export_and_user_files(models, tmp_path):
    x, _ = models
    out = tmp_path / "out"
    export_model(x, _config(out, formats=("keras",)), metadata={"class_names": CLASS_NAMES})
    (out / "readme.txt").write_text("mine")
    export_model(x, _config(out, formats=("savedmodel",)), metadata={"class_names": CLASS_NAMES})
    names = sorted(p.name for p in out.iterdir())
    assert names == ["labels.txt", "model.json", "model.keras", "model_savedmodel", "readme.txt"]
    assert (out / "readme.txt").read_text() == "mine"


def test_without_an_atomic_swap_the_two_renames_still_give_a_whole_export(models, tmp_path, monkeypatch):
    x, y = models
    out = tmp_path / "out"
    export_model(x, _config(out), metadata={"class_names": CLASS_NAMES})
    monkeypatch.setattr(staged_module, "exchange_folders", lambda a, b: False)
    export_model(y, _config(out, overwrite=True), metadata={"class_names": OTHER_NAMES})
    assert (out / "labels.txt").read_text().split() == OTHER_NAMES
    assert not [p.name for p in out.parent.iterdir() if p.name != "out"]


def test_a_kill_between_the_two_renames_is_recovered_by_the_next_export(models, tmp_path):
    x, _ = models
    out = tmp_path / "out"
    export_model(x, _config(out, formats=("keras",)), metadata={"class_names": CLASS_NAMES})
    before = _digest(out)
    out.rename(tmp_path / ".out.old-deadbeef")  # the old folder set aside, the new one never renamed in
    export_model(x, _config(out, formats=("savedmodel",)), metadata={"class_names": CLASS_NAMES})
    assert (out / "model.keras").is_file() and _digest(out)["model.keras"] == before["model.keras"]
    assert not [p.name for p in out.parent.iterdir() if p.name != "out"]
