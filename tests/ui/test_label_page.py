"""The Label page on the fake engine: a batch labelled with the keyboard, applied, refitted, undone, restored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.support.images import write_images
from tlstudio.api.evaluate import PredictConfig, PredictResult
from tlstudio.api.label import RetrainConfig, RetrainResult, SuggestConfig, SuggestResult, Suggestion
from tlstudio.config import DataConfig, RunConfig, to_json
from ui.pages.label_page import LabelPage
from ui.project_controller import project_controller
from ui.state import AppState


@pytest.fixture
def world(tmp_path):
    data = tmp_path / "data"
    write_images(data / "ants", 4, (200, 40, 40), seed=1)
    write_images(data / "bees", 4, (40, 40, 200), seed=2)
    pool = tmp_path / "pool"
    write_images(pool / "day1", 6, (120, 80, 80), seed=3)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run_config.json").write_text(to_json(RunConfig(data=DataConfig(root=str(data)))), encoding="utf-8")
    return data, pool, run_dir


def _batch(pool: Path) -> SuggestResult:
    probabilities = [0.51, 0.55, 0.62, 0.85, 0.93, 0.97]
    return SuggestResult(tuple(
        Suggestion(str(pool / "day1" / f"img_{i:03d}.png"), "ants" if i % 2 else "bees", p, 2 * p - 1, i + 1)
        for i, p in enumerate(probabilities)), class_names=("ants", "bees"), strategy="diverse", pool_size=6)


@pytest.fixture
def page(qtbot, fake_engine, world):
    data, pool, run_dir = world
    refits = iter([0.60, 0.70, 0.75, 0.80])
    fake_engine.register(RetrainConfig, lambda c: RetrainResult(next(refits), 6 + len(c.labelled), ("ants", "bees"), c.strategy))
    fake_engine.register(SuggestConfig, lambda c: _batch(pool))
    overlay = np.zeros((32, 32, 3), np.uint8)
    overlay[:, :16, 0] = 255
    fake_engine.register(PredictConfig, lambda c: PredictResult(str(c.model.path), ("ants", "bees"), (), overlay=overlay))
    state = AppState(DataConfig(root=str(data)))
    widget = LabelPage(state)
    qtbot.addWidget(widget)
    widget.resize(1024, 680)
    widget.show()
    widget.source.pool_edit.setText(str(pool))
    widget.source.run_combo.setCurrentText(str(run_dir))
    yield widget
    widget.shutdown()
    controller = project_controller(state)
    controller._autosave_timer.stop()
    controller.discard_own_autosave()


def _wait_batch(qtbot, page, n=6):
    qtbot.waitUntil(lambda: len(page.grid.cards) == n and not page.runner.is_running(), timeout=10_000)


def test_a_batch_is_labelled_with_the_keyboard_applied_and_undone(qtbot, page, fake_engine, world, tmp_path):
    data, pool, _ = world
    assert page.suggest()
    _wait_batch(qtbot, page)
    assert [type(c).__name__ for _, c in fake_engine.calls] == ["RetrainConfig", "SuggestConfig"]  # baseline first
    grid = page.grid
    grid.setFocus()
    for key in "12x":  # card 1 -> ants, card 2 -> bees, card 3 skipped
        qtbot.keyClick(grid, key)
    assert [c.decision for c in grid.cards[:4]] == ["ants", "bees", "", None]
    qtbot.keyClick(grid, "u")  # takes back the skip
    assert grid.cards[2].decision is None and grid.current == 2
    qtbot.keyClick(grid, "0")
    assert grid.cards[2].decision == "" and grid.current == 3
    qtbot.keyClick(grid, Qt.Key.Key_Right)
    assert grid.current == 4
    # "Accept all" says how many before it acts.
    page.actions.threshold.setValue(0.9)
    assert page.actions.accept_button.text() == "Accept 2"
    page.actions.accept_button.click()
    assert [c.decision for c in grid.cards[3:]] == [None, "bees", "ants"]
    assert page.actions.accept_button.text() == "Accept 0"
    # Grad-CAM on demand: g asks for the current card's, the run's model draws it.
    assert grid.current == 3  # the one card still undecided
    qtbot.keyClick(grid, "g")
    qtbot.waitUntil(lambda: page.cams.pending() == 0 and not grid.cards[3].cam.pixmap().isNull(), timeout=10_000)
    predict = [c for _, c in fake_engine.calls if isinstance(c, PredictConfig)]
    assert predict[0].paths == (grid.cards[3].path,) and predict[0].gradcam and predict[0].model.path == str(world[2])
    # A new class from the grid gets the next number key.
    assert page.new_class("wasps") == "wasps"
    grid.set_current(3)
    qtbot.keyClick(grid, "3")
    assert grid.cards[3].decision == "wasps"
    _grab(page, tmp_path)
    existing = (data / "ants" / "img_000.png").read_bytes()
    assert page.apply_batch()
    qtbot.waitUntil(lambda: len(page.record.curve()) == 2 and not page.runner.is_running(), timeout=10_000)
    placed = {Path(p.source).name: Path(p.target) for p in page.record.rounds[0].batch.placed}
    assert placed["img_000.png"] == data / "ants" / "img_000-1.png"  # data/ants/img_000.png exists: renamed
    assert placed["img_001.png"] == data / "bees" / "img_001-1.png"
    assert placed["img_003.png"] == data / "wasps" / "img_003.png"  # the new class's folder
    assert placed["img_004.png"] == data / "bees" / "img_004.png"
    assert len(placed) == 5 and (data / "ants" / "img_000.png").read_bytes() == existing
    assert all((pool / "day1" / name).is_file() for name in placed)  # copied: the unsorted images stay
    assert "Renamed (a file of that name was there): img_000.png → img_000-1.png" in page.actions.applied_text.text()
    assert set(page.state.data_config.train_only) == {str(p) for p in placed.values()}
    refit = [c for _, c in fake_engine.calls if isinstance(c, RetrainConfig)][-1]
    assert dict(refit.labelled)[str(pool / "day1" / "img_003.png")] == "wasps"
    assert set(refit.data.train_only) == {str(p) for p in placed.values()}
    assert page.record.curve() == [(6, 0.6, "start"), (11, 0.7, "diverse")]
    assert page.record.rounds[0].skipped == (str(pool / "day1" / "img_002.png"),)
    _wait_batch(qtbot, page)  # the next batch follows the refit
    from ui.panels.label_grid import LabelCard

    shown = [c for c in page.grid.findChildren(LabelCard) if c.isVisible()]
    assert shown == page.grid.cards  # the applied batch's cards are gone at once, not painted under the new ones
    nxt = [c for _, c in fake_engine.calls if isinstance(c, SuggestConfig)][-1]
    assert str(pool / "day1" / "img_002.png") in nxt.exclude and len(nxt.labelled) == 5
    assert nxt.head_file == ""  # the fake engine saved no refitted head, so the run's own head scores
    # Undo takes the batch back out of the dataset.
    assert page.undo_batch(confirmed=True)
    assert not any(p.exists() for p in placed.values()) and (data / "ants" / "img_000.png").read_bytes() == existing
    assert page.record.rounds == [] and page.state.data_config.train_only == ()
    assert all((pool / "day1" / name).is_file() for name in placed)


def test_the_loop_comes_back_from_the_project(qtbot, page, world, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    assert page.suggest()
    _wait_batch(qtbot, page)
    page.grid.setFocus()
    qtbot.keyClick(page.grid, "1")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert not page.suggest()  # another batch would drop the decision: asked, and refused
    assert "Drop the 1 decision(s)" in asked[0] and page.grid.cards[0].decision == "ants"
    assert page.apply_batch()
    qtbot.waitUntil(lambda: len(page.record.curve()) == 2, timeout=10_000)
    project = project_controller(page.state).project
    text = project.to_dict()
    from tlstudio.project.project import Project

    again = Project.from_dict(text)
    assert again.label.curve() == page.record.curve() and again.label.targets() == page.record.targets()
    other = LabelPage(page.state)
    qtbot.addWidget(other)
    assert other.restore_from_project()
    assert other.actions.curve.curve == page.record.curve() and other.source.pool() == page.record.pool
    other.shutdown()
    # "Train a full run": the run's model and settings on the grown dataset, with fine-tuning when asked.
    assert not page.promote(4)  # no main window here: the settings are set, the run is started on the Train page
    assert page.state.train_config.fine_tune_epochs == 4
    assert page.state.data_config.train_only == page.record.targets() and len(page.record.targets()) == 1
    assert page.state.model_config.backbone == "vgg16" and "Train page" in page.controls.status.text()


def test_bad_folders_are_named_and_nothing_starts(qtbot, page, fake_engine, tmp_path):
    page.source.pool_edit.setText(str(tmp_path / "missing"))
    assert not page.suggest()
    assert "Choose the folder of unsorted images" in page.controls.status.text()
    page.source.pool_edit.setText(str(tmp_path))
    page.source.run_combo.setCurrentText(str(tmp_path))
    assert not page.suggest()
    assert "run_config.json" in page.controls.status.text() and not fake_engine.calls


def _grab(widget, tmp_path):
    from PySide6.QtWidgets import QApplication

    for w, h in ((1024, 680), (1600, 1000)):
        widget.resize(w, h)
        for _ in range(3):
            QApplication.processEvents()
        widget.grab().save(str(Path("/tmp") / f"label_page_{w}.png"))


def test_a_cancelled_refit_stops_the_chain_and_an_engine_error_is_shown(qtbot, fake_engine, world):
    from tlstudio.errors import DataError

    data, pool, run_dir = world
    answers = iter([RetrainResult(0.0, 0, ("ants", "bees"), "diverse", cancelled=True),
                    DataError(f"{data}: the learning curve needs a validation split. Received: 0 validation images")])

    def retrain(config):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    fake_engine.register(RetrainConfig, retrain)
    state = AppState(DataConfig(root=str(data)))
    errors = []
    state.error_reported.connect(lambda message, details: errors.append(message))
    page = LabelPage(state)
    qtbot.addWidget(page)
    page.source.pool_edit.setText(str(pool))
    page.source.run_combo.setCurrentText(str(run_dir))
    assert page.suggest()
    qtbot.waitUntil(lambda: not page.runner.is_running() and "cancelled" in page.controls.status.text(), timeout=10_000)
    assert page.record.curve() == [] and not any(isinstance(c, SuggestConfig) for _, c in fake_engine.calls)
    assert page.suggest()  # no point yet: it refits again, and the engine refuses
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "needs a validation split" in errors[0] and "validation split" in page.controls.status.text()
    assert not page.grid.cards
    page.shutdown()
    controller = project_controller(state)
    controller._autosave_timer.stop()
    controller.discard_own_autosave()
