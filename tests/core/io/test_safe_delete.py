"""Deleting a run deletes only a tlstudio run folder: never photos, never a folder it cannot vouch for."""

import os

import pytest

from tlstudio.config import RunConfig, to_json
from tlstudio.errors import ProjectError
from tlstudio.training.safe_delete import RUN_MARKER, deletable_run_folder, delete_run_folder
from tlstudio.project import Project, RunRecord


def _photos(folder, n=3):
    for cls in ("cats", "dogs"):
        (folder / cls).mkdir(parents=True)
        for i in range(n):
            (folder / cls / f"{i}.jpg").write_bytes(b"\xff\xd8\xff photo")
    return sorted(str(p) for p in folder.rglob("*.jpg"))


def _run(folder, marker=True):
    folder.mkdir(parents=True)
    if marker:
        (folder / RUN_MARKER).write_text('{"format": "tlstudio-run", "version": 1}')
    (folder / "run_config.json").write_text(to_json(RunConfig()))
    (folder / "history.json").write_text("[]")
    (folder / "model.keras").write_bytes(b"zip")
    (folder / "logs" / "train").mkdir(parents=True)
    (folder / "logs" / "train" / "events.out.tfevents.1").write_bytes(b"x")
    return folder


def _project_with_run(tmp_path, run_dir, dataset=""):
    project = Project.new("p", dataset=dataset)
    project.runs.append(RunRecord(id="r1", run_dir=str(run_dir)))
    return project


def test_a_run_pointing_at_a_photo_folder_does_not_delete_the_photos(tmp_path):
    photos = tmp_path / "holiday"
    before = _photos(photos)
    project = _project_with_run(tmp_path, photos)
    with pytest.raises(ProjectError) as info:
        project.remove_run("r1", delete_files=True)
    message = str(info.value)
    assert str(photos) in message and "no .tlstudio-run marker" in message and "Received: cats, dogs" in message
    assert sorted(str(p) for p in photos.rglob("*.jpg")) == before
    assert [r.id for r in project.runs] == ["r1"]  # nothing forgotten either


def test_a_marked_run_folder_is_deleted(tmp_path):
    run_dir = _run(tmp_path / "runs" / "r1")
    (run_dir / ".model.keras.tmp-1a2b3c4d.keras").write_bytes(b"half")  # left by a killed save
    project = _project_with_run(tmp_path, run_dir)
    assert project.deletable_folder("r1") == run_dir.resolve()
    project.remove_run("r1", delete_files=True)
    assert not run_dir.exists() and project.runs == []


def test_a_folder_without_the_marker_is_never_deleted_even_with_run_files(tmp_path):
    """Issue 25.4: history.json + run_config.json are not proof; the user's notes next to them survive."""
    run_dir = _run(tmp_path / "thesis", marker=False)
    (run_dir / "export").mkdir()
    (run_dir / "export" / "thesis.pdf").write_bytes(b"%PDF")
    (run_dir / "logs" / "notes.md").write_text("my notes")
    project = _project_with_run(tmp_path, run_dir)
    with pytest.raises(ProjectError, match="no .tlstudio-run marker") as info:
        project.remove_run("r1", delete_files=True)
    assert str(run_dir) in str(info.value) and "Received:" in str(info.value)
    assert (run_dir / "export" / "thesis.pdf").read_bytes() == b"%PDF"
    assert (run_dir / "logs" / "notes.md").read_text() == "my notes"
    assert (run_dir / "history.json").exists() and [r.id for r in project.runs] == ["r1"]


def test_a_marker_that_is_not_tlstudios_is_not_proof(tmp_path):
    run_dir = _run(tmp_path / "r", marker=False)
    (run_dir / RUN_MARKER).write_text("")
    with pytest.raises(ProjectError, match="marker"):
        delete_run_folder(run_dir)
    assert (run_dir / "model.keras").exists()


@pytest.mark.parametrize(
    "where",
    ["export/thesis.pdf", "export/results.csv", "logs/notes.md", "logs/train/results.csv", "export/model_savedmodel/notes.md"],
)
def test_user_files_below_a_marked_run_folder_are_never_deleted(tmp_path, where):
    """Issue 25.4: only the files tlstudio writes are deleted, also inside logs/ and export/."""
    run_dir = _run(tmp_path / "runs" / "r1")
    export = run_dir / "export"
    (export / "model_savedmodel").mkdir(parents=True)
    (export / "model.keras").write_bytes(b"zip")
    (export / "labels.txt").write_text("a\nb\n")
    (export / "model.json").write_text('{"metadata_version": 1, "files": {"keras": "model.keras", "savedmodel": "model_savedmodel"}}')
    (export / "model_savedmodel" / "saved_model.pb").write_bytes(b"pb")
    user_file = run_dir / where
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_bytes(b"the user's own work")
    project = _project_with_run(tmp_path, run_dir)
    with pytest.raises(ProjectError, match="Not deleting") as info:
        project.remove_run("r1", delete_files=True)
    assert where in str(info.value)
    assert user_file.read_bytes() == b"the user's own work"
    assert (run_dir / "model.keras").exists() and [r.id for r in project.runs] == ["r1"]


def test_a_marked_run_with_its_export_is_deleted(tmp_path):
    run_dir = _run(tmp_path / "runs" / "r1")
    export = run_dir / "export"
    (export / "model_savedmodel" / "variables").mkdir(parents=True)
    (export / "model.keras").write_bytes(b"zip")
    (export / "model.tflite").write_bytes(b"tfl")
    (export / "labels.txt").write_text("a\nb\n")
    (export / "model.json").write_text(
        '{"metadata_version": 1, "files": {"keras": "model.keras", "tflite": "model.tflite", "savedmodel": "model_savedmodel"}}'
    )
    (export / "model_savedmodel" / "saved_model.pb").write_bytes(b"pb")
    (export / "model_savedmodel" / "variables" / "variables.index").write_bytes(b"i")
    assert delete_run_folder(run_dir) and not run_dir.exists()


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: (d / "notes.txt").write_text("mine"), "Received: notes.txt"),
        (lambda d: (d / "logs" / "cat.png").write_bytes(b"png"), "holds images or links, which tlstudio never writes in a run folder (and never deletes). Received: logs/cat.png"),
        (lambda d: os.symlink("/", d / "logs" / "root"), "Received: logs/root"),
    ],
)
def test_a_run_folder_with_foreign_content_is_refused(tmp_path, make, fragment):
    run_dir = _run(tmp_path / "r")
    make(run_dir)
    with pytest.raises(ProjectError, match="Not deleting") as info:
        delete_run_folder(run_dir)
    assert fragment in str(info.value)
    assert (run_dir / "model.keras").exists()


def test_empty_folder_file_link_and_dataset_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProjectError, match="no .tlstudio-run marker"):
        delete_run_folder(empty)
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(ProjectError, match="it is a file"):
        delete_run_folder(a_file)
    run_dir = _run(tmp_path / "r")
    link = tmp_path / "link"
    link.symlink_to(run_dir)
    with pytest.raises(ProjectError, match="symbolic link"):
        delete_run_folder(link)
    # a run folder recorded as the dataset itself, or holding it
    with pytest.raises(ProjectError, match="overlaps"):
        delete_run_folder(run_dir, dataset=run_dir)
    with pytest.raises(ProjectError, match="overlaps"):
        delete_run_folder(tmp_path, dataset=run_dir)
    assert run_dir.is_dir() and a_file.exists() and empty.is_dir()


def test_a_missing_folder_is_simply_forgotten(tmp_path):
    project = _project_with_run(tmp_path, tmp_path / "gone")
    assert deletable_run_folder(tmp_path / "gone") is None
    project.remove_run("r1", delete_files=True)
    assert project.runs == []
