"""The ``report`` job and ``tlstudio-cli report`` on every kind of run folder the suite makes.

Finished, cancelled, resumed, hand-made (``tests/support/tiny_model``) and
damaged runs each get a report; the damaged one says what is missing. The
numbers in the report are the evaluation's own (ROC AUC and AP per class).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from pathlib import Path

import pytest

from tlstudio.api.certificate import CERTIFICATE_FILE
from tlstudio.api.report import ModelCard, ReportConfig
from tlstudio.cancel import CancelToken
from tlstudio.cli import main as cli
from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.errors import ConfigError
from tlstudio.events import EpochEnd
from tlstudio.jobs import run_job
from tlstudio.project import Project
from tlstudio.training import resume_config, run_training

from tests.support.audit_result import audit_result


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=10, size=32, seed=4)


def _config(root: Path, run_dir: Path, epochs: int = 3) -> RunConfig:
    return RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.2, test_fraction=0.2, seed=5),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32, cut="block2_pool", head=HeadConfig(dropout=0.0)),
        train=TrainConfig(epochs=epochs, batch_size=8, learning_rate=0.01, seed=5, tensorboard=False, deterministic=True),
        run_dir=str(run_dir),
    )


@pytest.fixture(scope="module")
def runs(shapes, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    finished = run_training(_config(shapes, base / "finished"))
    assert finished.error is None, finished.error_details

    token = CancelToken()
    cancelled = run_training(_config(shapes, base / "cancelled"), lambda e: isinstance(e, EpochEnd) and token.cancel(), token)
    assert cancelled.cancelled and cancelled.epochs_completed == 1

    shutil.copytree(finished.run_dir, base / "resumed")  # 3 epochs, and one more: a run resumed once, of its own folder
    resumed = run_training(resume_config(str(base / "resumed"), epochs=1))
    assert resumed.error is None and len(resumed.history) == 4

    damaged = base / "damaged"
    shutil.copytree(finished.run_dir, damaged)
    (damaged / "model.keras").unlink()
    (damaged / "run_config.json").write_text("{not json", encoding="utf-8")

    from tests.support.tiny_model import make_run_dir

    (base / "handmade").mkdir()
    handmade = make_run_dir(base / "handmade")
    return {"finished": Path(finished.run_dir), "cancelled": Path(cancelled.run_dir), "resumed": Path(resumed.run_dir),
            "damaged": damaged, "handmade": handmade}


def _report(run_dir: Path, out: Path, **kwargs):
    return run_job("report", ReportConfig(run_dir=str(run_dir), out=str(out), **kwargs))


def _text(path: str | Path) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", Path(path).read_text(encoding="utf-8"))))


@pytest.mark.parametrize("kind", ["finished", "cancelled", "resumed", "handmade"])
def test_every_kind_of_run_gets_a_whole_report(runs, tmp_path, kind):
    result = _report(runs[kind], tmp_path / "r.html")
    page = Path(result.path).read_text(encoding="utf-8")
    for section in result.sections:
        assert f'<section id="{section}">' in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert result.split in ("test", "val") and "ROC AUC" in page
    assert result.size == len(page.encode("utf-8"))
    text = _text(result.path)
    if kind == "cancelled":
        assert "cancelled after 1 epoch(s)" in text
    if kind == "resumed":
        assert "over 4 epoch(s)" in text and "The run was resumed" in text
    if kind == "handmade":  # no manifest, no versions, no history: said, not hidden
        assert "no split manifest in the run folder" in text and "did not record its versions" in text


def test_a_damaged_run_gets_a_short_report_saying_what_is_missing(runs, tmp_path):
    result = _report(runs["damaged"], tmp_path / "r.html")
    text = _text(result.path)
    assert "This run folder is incomplete" in text
    assert "run_config.json" in text and "model.keras is missing" in text
    assert "The run's settings cannot be read, so the command cannot be written" in text
    assert any("model.keras" in m for m in result.missing) and result.split == ""


def test_the_report_shows_the_evaluations_own_numbers(runs, tmp_path):
    from tlstudio.api.evaluate import EvaluateConfig

    result = _report(runs["finished"], tmp_path / "r.html")
    evaluation = run_job("evaluate", EvaluateConfig(model=str(runs["finished"]), splits=(result.split,)))[result.split]
    text = _text(result.path)
    for curve, row in zip(evaluation.metrics.curves, evaluation.metrics.per_class):
        auc = "—" if curve.roc_auc is None else f"{curve.roc_auc:.3f}"
        ap = "—" if curve.average_precision is None else f"{curve.average_precision:.3f}"
        assert re.search(rf"{row.name}\s+{row.precision:.3f}\s+{row.recall:.3f}\s+{row.f1:.3f}\s+{row.support}\s+{auc}\s+{ap}", text), row.name
    assert f"ECE {evaluation.metrics.calibration.ece:.3f}" in text
    manifest = hashlib.sha256((runs["finished"] / "split_manifest.json").read_bytes()).hexdigest()
    assert manifest in text
    assert "--deterministic" in text and "Deterministic on: seeds set" in text
    assert re.search(r"tensorflow\s+2\.\d+", text) and re.search(r"pillow\s+\d+", text)
    assert text.count("predicted") >= 1 and ("No mistakes on this split" in text or "Grad-CAM of" in Path(result.path).read_text())


def test_model_card_audit_and_exports_with_a_certificate(runs, shapes, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(runs["finished"] / "model.keras", export / "model.keras")
    (export / "labels.txt").write_text("circle\nsquare\ntriangle\n", encoding="utf-8")
    certificate = {"version": 1, "source": "validation split", "images": 6, "class_names": ["circle", "square", "triangle"],
                   "formats": [{"format": "tflite", "file": str(export / "model.tflite"), "agreement": 1.0, "max_abs_diff": 3e-7,
                                "disagreements": [], "classes": [{"name": "circle"}, {"name": "square"}]}]}
    (export / CERTIFICATE_FILE).write_text(json.dumps(certificate), encoding="utf-8")
    card = ModelCard(intended_use="Sort <script>alert(1)</script> shapes", limitations="", data_provenance="Generated by tlstudio-cli sample")
    result = _report(runs["finished"], tmp_path / "r.html", model_card=card, audit=audit_result(shapes), export_dirs=(str(export),))
    page = Path(result.path).read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the user's text is text
    text = _text(result.path)
    assert "Not filled in." in text and "Generated by tlstudio-cli sample" in text
    digest = hashlib.sha256((export / "model.keras").read_bytes()).hexdigest()
    assert digest in text and "source validation split" in text
    assert re.search(r"format file agreement max_abs_diff disagreements classes tflite \S+model.tflite 1.0 3e-07 0 2", text)
    assert "leak across splits" in text and "looks like square" in text
    assert page.count('src="data:image/png;base64,') >= 5  # audit thumbnails and mistakes


def test_an_existing_file_is_kept_unless_replacing_is_allowed(runs, tmp_path):
    out = tmp_path / "mine.html"
    out.write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match="exists"):
        _report(runs["handmade"], out)
    assert out.read_text(encoding="utf-8") == "keep me"
    assert _report(runs["handmade"], out, overwrite=True).size > 1000


def test_cli_report_takes_the_model_card_from_the_project(runs, tmp_path, capsys):
    project = Project.new("p", dataset=str(runs["finished"]), path=tmp_path / "p.tlsproj")
    project.set_model_card(ModelCard(intended_use="Teaching transfer learning", authors="R. Porter"))
    project.save()
    assert Project.load(tmp_path / "p.tlsproj").model_card.authors == "R. Porter"
    out = tmp_path / "r.html"
    assert cli(["report", str(runs["finished"]), "--out", str(out), "--project", str(tmp_path / "p.tlsproj"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(out) and data["sections"][0] == "summary"
    assert "Teaching transfer learning" in _text(out) and "R. Porter" in _text(out)
    assert cli(["report", str(runs["finished"]), "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err


def test_the_default_report_and_export_folder_stay_inside_a_deletable_run_folder(runs, tmp_path):
    from tlstudio.training.safe_delete import deletable_run_folder

    from tlstudio.run_folders import RUN_MARKER, marker_text

    run = tmp_path / "copy"
    shutil.copytree(runs["handmade"], run)
    (run / RUN_MARKER).write_text(marker_text())  # as every run tlstudio makes: only a marked folder is ever deleted
    (run / "export").mkdir()
    shutil.copy(run / "model.keras", run / "export" / "model.keras")
    (run / "export" / "labels.txt").write_text("a\nb\n")
    (run / "export" / "model.json").write_text('{"files": {"keras": "model.keras"}}')
    result = run_job("report", ReportConfig(run_dir=str(run)))  # no export folder given: <run>/export is listed
    assert result.path == str(run / "report.html")
    assert hashlib.sha256((run / "export" / "model.keras").read_bytes()).hexdigest() in _text(result.path)
    assert deletable_run_folder(run) == run  # the report is one of the files a run folder may hold


@pytest.mark.slow
def test_a_multi_worker_chiefs_run_gets_a_whole_report(tmp_path_factory, tmp_path):
    """Two workers on localhost (TF_CONFIG) train one model; the chief's run folder is reported like any other.

    The run is the session's shared two-worker run (``tests/support/cluster.py``), which
    ``tests/core/training/test_multiworker.py`` checks as a run; the report only reads it.
    """
    from tests.support.cluster import shared_features_run

    cluster, results = shared_features_run(tmp_path_factory)
    assert [rc for rc, _result, _err in results] == [0, 0], results[0][2][-2000:]
    result = _report(cluster / "run", tmp_path / "r.html")
    text = _text(result.path)
    assert result.missing == () and "MultiWorkerMirroredStrategy" in text and "Status finished" in text


def test_a_missing_run_folder_is_one_clear_line(tmp_path, capsys):
    assert cli(["report", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tlstudio-cli: error: the run folder to report on does not exist") and "Received:" in err
    assert "Traceback" not in err
