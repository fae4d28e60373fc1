"""The live plots and the Train page, fed with engine events (no training here).

A real training run through the whole window is in ``test_workflow.py``.
"""

from __future__ import annotations

import dataclasses

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tlstudio.config import DataConfig, TrainConfig
from tlstudio.events import BatchEnd, EpochEnd, LogMessage, PhaseChanged, PhasePlan, Progress, RunStarted
from ui.jobs.train_text import format_duration
from ui.pages.train_page import TrainPage
from ui.state import AppState
from ui.widgets.plots import Series, TrainingPlots


def _run_started(feature_cache=False, steps=4, epochs=3):
    phases = (PhasePlan(1, "head", 2, 1e-3, 10, 100), PhasePlan(2, "fine_tune", epochs - 2, 1e-5, 60, 50))
    return RunStarted("/tmp/run", ("a", "b"), phases, epochs, steps, 1, 16, 4, 4, feature_cache=feature_cache)


def _batch(epoch, batch, loss, acc, steps=4, phase=1, lr=1e-3):
    return BatchEnd(phase, epoch, batch, steps, epoch * steps + batch + 1, loss, acc, lr, 120.0)


def test_series_grows_past_its_capacity():
    s = Series(capacity=2)
    for i in range(5):
        s.append(i, i * i)
    assert len(s) == 5
    np.testing.assert_array_equal(s.x, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(s.y, [0, 1, 4, 9, 16])
    s.clear()
    assert len(s) == 0 and s.x.size == 0


def test_batch_curves_undo_the_running_mean(qtbot):
    plots = TrainingPlots(smoothing=0.0)  # no smoothing: the smooth curve equals the recent values
    qtbot.addWidget(plots)
    per_batch = [4.0, 2.0, 0.0, 2.0]
    means = np.cumsum(per_batch) / np.arange(1, 5)
    # the GUI sees batches 0, 2 and 3 of the epoch (throttling dropped batch 1)
    for b in (0, 2, 3):
        plots.handle_event(_batch(0, b, float(means[b]), 0.5))
    plots.redraw()
    x, y = plots.curves["loss_batch"].getOriginalDataset()
    np.testing.assert_allclose(x, [0.25, 0.75, 1.0])
    # batch 0 alone, then the mean of batches 1-2, then batch 3
    np.testing.assert_allclose(y, [4.0, 1.0, 2.0])
    np.testing.assert_allclose(plots.curves["loss_smooth"].getOriginalDataset()[1], y)
    # a new epoch restarts Keras's running mean: its first value is taken as it is
    plots.handle_event(_batch(1, 0, 7.0, 0.5))
    assert plots.series["loss_batch"].y[-1] == 7.0


def test_smoothing_follows_an_exponential_moving_average(qtbot):
    plots = TrainingPlots(smoothing=0.5)
    qtbot.addWidget(plots)
    running = 0.0
    for b, v in enumerate([1.0, 3.0, 5.0]):
        running = (running * b + v) / (b + 1)
        plots.handle_event(_batch(0, b, running, 0.1))
    smooth = plots.series["loss_smooth"].y
    np.testing.assert_allclose(smooth, [1.0, 2.0, 3.5])


def test_epoch_points_lr_and_phase_marker(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.handle_event(_run_started())
    # the x axis is fixed to the planned 3 epochs (new points do not rescale it)
    (x0, x1), _ = plots.loss_widget.getPlotItem().viewRange()
    assert x0 < 0.1 and 3.0 < x1 < 3.2
    for epoch in range(3):
        phase = 1 if epoch < 2 else 2
        if epoch == 2:
            plots.handle_event(PhaseChanged(2, "fine_tune", 2, 1, 1e-5, 60, 50))
        for b in range(4):
            plots.handle_event(_batch(epoch, b, 1.0 / (epoch + 1), 0.5, phase=phase, lr=1e-3 if phase == 1 else 1e-5))
        plots.handle_event(EpochEnd(phase, epoch, {"loss": 1.0, "accuracy": 0.6, "val_loss": 1.2, "val_accuracy": 0.5}, 1e-3, 1.0))
    plots.redraw()
    assert plots.point_count("loss_batch") == 12
    assert plots.point_count("lr") == 12
    for key in ("loss_train", "loss_val", "acc_train", "acc_val"):
        x, _y = plots.curves[key].getOriginalDataset()
        np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(plots.curves["acc_val"].getOriginalDataset()[1], [0.5, 0.5, 0.5])
    assert plots.phase2_epoch == 2.0
    assert all(line.isVisible() and line.value() == 2.0 for line in plots.phase_lines)
    # the batch lines break at the phase change instead of joining the two phases
    y = plots.series["lr"].y
    assert np.isnan(y).sum() == 1 and y[np.isfinite(y)].min() == pytest.approx(1e-5)

    # a point past the plan (e.g. a resumed run) widens the axis
    plots.handle_event(_batch(3, 1, 0.5, 0.5))
    assert plots.loss_widget.getPlotItem().viewRange()[0][1] > 4.0

    plots.reset()
    assert all(plots.point_count(k) == 0 for k in plots.curves)
    assert plots.curves["loss_val"].getOriginalDataset()[0] is None or len(plots.curves["loss_val"].getOriginalDataset()[0]) == 0
    assert not any(line.isVisible() for line in plots.phase_lines)


def test_smoothing_out_of_range_is_refused(qtbot):
    with pytest.raises(ValueError, match="Received: smoothing=1.0"):
        TrainingPlots(smoothing=1.0)


def test_format_duration():
    assert format_duration(0) == "0:00"
    assert format_duration(75) == "1:15"
    assert format_duration(3725) == "1:02:05"


@pytest.fixture
def page(qtbot):
    state = AppState(train_config=TrainConfig(epochs=2, fine_tune_epochs=1, batch_size=4))
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    return page


def test_widgets_and_state_stay_in_step(page):
    state = page.state
    assert page.epochs_spin.value() == 2 and page.fine_epochs_spin.value() == 1
    page.batch_spin.setValue(16)
    page.optimizer_combo.setCurrentIndex(page.optimizer_combo.findData("sgd"))
    page.early_check.setChecked(True)
    page.patience_spin.setValue(5)
    page.fine_lr_spin.setValue(2e-5)
    cfg = state.train_config
    assert (cfg.batch_size, cfg.optimizer, cfg.early_stopping, cfg.patience) == (16, "sgd", True, 5)
    assert cfg.fine_tune_learning_rate == pytest.approx(2e-5)
    state.update_train_config(epochs=7, schedule="cosine", class_weights=False)
    assert page.epochs_spin.value() == 7
    assert page.schedule_combo.currentData() == "cosine"
    assert not page.class_weights_check.isChecked()


def test_the_precision_choice_comes_from_the_option_and_follows_the_state(page):
    from tlstudio.options import option_of

    combo = page.precision_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(option_of(TrainConfig, "precision").choices)
    assert combo.currentData() == "auto" and "AMX" in combo.toolTip()
    combo.setCurrentIndex(combo.findData("bfloat16"))
    assert page.state.train_config.precision == "bfloat16"
    page.state.update_train_config(precision="float32")
    assert combo.currentData() == "float32"


def test_batch_size_auto_is_the_spin_box_s_lowest_value(page):
    page.batch_spin.setValue(0)
    assert page.batch_spin.text() == "Auto" and page.state.train_config.batch_size == 0
    assert "estimated peak memory" in page.batch_spin.toolTip()


def test_the_status_bar_line_names_device_and_precision():
    from tlstudio.api.device import DeviceInfo

    cpu = DeviceInfo("CPU", "x", 0, 0, 2, False, "t", "k", precision="bfloat16", precision_reason="AMX, 3.1x float32 measured")
    assert cpu.summary() == "CPU: 2 cores, bfloat16 (AMX)"
    gpu = DeviceInfo("GPU", "NVIDIA A100", 40960, 1, 8, True, "t", "k", precision="float16", precision_reason="tensor cores")
    assert gpu.summary() == "GPU: NVIDIA A100 (40,960 MiB), float16 (tensor cores)"


def test_the_deterministic_box_sits_by_the_seed_and_sets_the_config(page, qtbot):
    assert not page.deterministic_check.isChecked() and page.deterministic_check.text() == "Deterministic"
    assert "bit-equal" in page.deterministic_check.toolTip()
    page.deterministic_check.setChecked(True)
    assert page.state.train_config.deterministic is True
    page.state.update_train_config(deterministic=False)
    assert not page.deterministic_check.isChecked()


def test_start_without_a_dataset_says_so_and_stays_idle(page, qtbot):
    errors = []
    page.state.error_reported.connect(lambda message, details: errors.append(message))
    assert page.start() is False
    assert errors and "Data page" in errors[0]
    assert not page.is_running() and page.start_button.isEnabled() and not page.cancel_button.isEnabled()
    assert page.state.run_state == "idle"


def test_invalid_settings_are_reported_not_started(page, tmp_path):
    errors = []
    page.state.error_reported.connect(lambda message, details: errors.append(message))
    page.state.update_data_config(root=str(tmp_path))
    page.epochs_spin.setValue(0)
    page.fine_epochs_spin.setValue(0)  # 0 + 0 epochs: TrainConfig refuses it
    assert page.start() is False
    assert errors and "at least one epoch" in errors[0]
    assert not page.is_running() and page.state.run_state == "idle"


def test_a_failure_other_than_the_settings_is_not_called_invalid_settings(page, tmp_path, monkeypatch):
    reports = []
    page.state.error_reported.connect(lambda message, details: reports.append((message, details)))
    page.state.update_data_config(root=str(tmp_path))

    def broken(**_changes):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(page.state, "run_config", broken)
    assert page.start() is False
    message, details = reports[0]
    assert "not valid" not in message and "could not be prepared" in message
    assert "RuntimeError: disk on fire" in message and "Traceback" in details
    assert not page.is_running() and page.state.run_state == "idle"


def test_events_drive_progress_log_and_cache_notice(page):
    page.handle_event(Progress("validate", 3, 10, "Checked 3 of 10 images"))
    assert page.progress.maximum() == 10 and page.progress.value() == 3
    page.handle_event(LogMessage("no validation split", "warning"))
    page.handle_event(_run_started(feature_cache=True))
    assert page.cache_label.isVisible() and "Feature cache" in page.cache_label.text()
    assert page.progress.maximum() == 3 * 4
    page.handle_event(_batch(0, 0, 1.0, 0.5))
    page.handle_event(_batch(0, 2, 1.0, 0.5))
    assert page.progress.value() == 3
    assert "epoch 1/3" in page.progress.format() and "batch 3/4" in page.progress.format()
    assert "images/s" in page.speed_label.text()
    page.handle_event(EpochEnd(1, 0, {"loss": 0.9, "accuracy": 0.7, "val_loss": 1.1, "val_accuracy": 0.6}, 1e-3, 2.0))
    page.handle_event(PhaseChanged(2, "fine_tune", 2, 1, 1e-5, 60, 50))
    assert not page.cache_label.isVisible()
    text = page.log.toPlainText()
    assert "⚠ no validation split" in text
    assert "val accuracy 0.600" in text
    assert "Phase 2: Fine-tuning" in text
    assert page.plots.point_count("loss_batch") == 2
    assert not math.isnan(page.plots.phase2_epoch)


def test_summary_names_best_metrics_and_model(page):
    from tlstudio.api.train import RunResult

    result = RunResult(
        run_dir="/tmp/r", model_path="/tmp/r/model.keras", epochs_completed=3,
        best_metrics={"epoch": 1, "val_accuracy": 0.875, "val_loss": 0.3, "accuracy": 0.9, "loss": 0.25},
    )
    text = page._summary(result)
    assert "Run finished after 3 epochs" in text and "(epoch 2)" in text
    assert "validation accuracy 0.875" in text and "/tmp/r/model.keras" in text
    cancelled = RunResult(run_dir="/tmp/r", cancelled=True, epochs_completed=1)
    assert page._summary(cancelled).startswith("Run cancelled after 1 epoch.")


def test_resume_needs_a_checkpoint(page, tmp_path):
    assert not page.resume_button.isEnabled()
    run = tmp_path / "run"
    run.mkdir()
    page._run_dir = str(run)
    assert page.resumable_run() == ""
    (run / "last.weights.h5").write_bytes(b"")
    assert page.resumable_run() == str(run)
    page._update_buttons()
    assert page.resume_button.isEnabled()


@pytest.mark.engine
@pytest.mark.slow
def test_the_page_trains_in_the_engine_process_and_cancel_stops_the_run(qtbot, tmp_path, engine_client):
    """Start on the page, the run goes to the engine process, its events come back; Cancel stops it."""
    import os

    from tlstudio.config import ModelConfig
    from tlstudio.data import generate_sample_dataset, prepare_data

    root = generate_sample_dataset(tmp_path / "shapes", per_class=12, size=32)
    state = AppState(
        data_config=DataConfig(root=str(root)),
        model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32),
        train_config=TrainConfig(epochs=50, batch_size=2, feature_cache="off", tensorboard=False),
    )
    state.set_prepared_data(prepare_data(state.data_config))
    page = TrainPage(state)
    qtbot.addWidget(page)
    batches = []
    page.runner.event.connect(lambda e: batches.append(e) if isinstance(e, BatchEnd) else None)
    assert page.client is engine_client
    page.start()
    qtbot.waitUntil(lambda: len(batches) >= 2, timeout=120_000)
    assert engine_client.server.pid != os.getpid()
    with qtbot.waitSignal(page.run_finished, timeout=120_000) as finished:
        page.cancel()
    result = finished.args[0]
    assert result.cancelled and result.error is None and result.epochs_completed < 50
    assert engine_client.server.is_alive()  # the process stays for the next job


@pytest.mark.engine
@pytest.mark.slow
def test_a_real_run_shows_validation_on_the_progress_bar(qtbot, tmp_path, engine_client):
    """A one-epoch run in the engine process: Validating events arrive and the bar says so."""
    from tlstudio.config import ModelConfig
    from tlstudio.data import generate_sample_dataset, prepare_data
    from tlstudio.events import Validating

    root = generate_sample_dataset(tmp_path / "shapes", per_class=10, size=32)
    state = AppState(
        data_config=DataConfig(root=str(root), val_fraction=0.4),
        model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32),
        train_config=TrainConfig(epochs=1, fine_tune_epochs=0, batch_size=4, feature_cache="off", tensorboard=False),
    )
    state.set_prepared_data(prepare_data(state.data_config))
    page = TrainPage(state)
    qtbot.addWidget(page)
    formats = []
    page.runner.event.connect(lambda e: formats.append(page.progress.format()) if isinstance(e, Validating) else None)
    with qtbot.waitSignal(page.run_finished, timeout=180_000) as finished:
        assert page.start()
    assert finished.args[0].error is None and finished.args[0].epochs_completed == 1
    assert formats and all("epoch 1/1 · validating" in f for f in formats)
    assert "1 epoch" in page.summary_label.text() and "1 epochs" not in page.log.toPlainText()


def _write_run(run_dir, history, epochs=2, fine_tune_epochs=1, checkpoint=True):
    """A run folder as run_training leaves it: config snapshot, history, checkpoint."""
    import json

    from tlstudio.config import ModelConfig, RunConfig, to_json

    run_dir.mkdir(parents=True)
    config = RunConfig(
        data=DataConfig(root=str(run_dir.parent)),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32),
        train=TrainConfig(epochs=epochs, fine_tune_epochs=fine_tune_epochs, batch_size=4),
        run_dir=str(run_dir),
    )
    (run_dir / "run_config.json").write_text(to_json(config), encoding="utf-8")
    (run_dir / "history.json").write_text(json.dumps(history), encoding="utf-8")
    if checkpoint:
        (run_dir / "last.weights.h5").write_bytes(b"")
    return run_dir


def record_train(config, *, sink, cancel):
    """A ``"train"`` job for a test engine: writes the config it received to ``$TLSTUDIO_TEST_RECORD``."""
    import os
    from pathlib import Path

    from tlstudio.config import to_json
    from tlstudio.api.train import RunResult

    folder = Path(os.environ["TLSTUDIO_TEST_RECORD"])
    number = len(list(folder.glob("*.json")))
    (folder / f"{number:03d}.json").write_text(to_json(config), encoding="utf-8")
    return RunResult(run_dir=config.run_dir, epochs_completed=1)


class _Recorder:
    """The configs a test engine's ``"train"`` job received, in order."""

    def __init__(self, folder):
        self.folder = folder

    @property
    def configs(self):
        from tlstudio.config import RunConfig, from_json

        return [from_json(RunConfig, p.read_text(encoding="utf-8")) for p in sorted(self.folder.glob("*.json"))]


@pytest.fixture(scope="module")
def recording_engine(qapp):
    """A real engine process whose ``"train"`` job only records the config the page sends."""
    from tlstudio.procrun import EngineProcess
    from ui.engine import EngineClient

    server = EngineProcess(registry={"train": f"{__name__}:record_train"}, preload=(), setup_device=False, niceness=0)
    client = EngineClient(server)
    yield client
    client.shutdown(10)


@pytest.fixture
def recorded(qtbot, recording_engine, tmp_path, monkeypatch):
    folder = tmp_path / "recorded"
    folder.mkdir()
    monkeypatch.setenv("TLSTUDIO_TEST_RECORD", str(folder))
    state = AppState(train_config=TrainConfig(epochs=4, fine_tune_epochs=5, batch_size=4))
    page = TrainPage(state, client=recording_engine)
    qtbot.addWidget(page)
    return page, _Recorder(folder)


def test_resume_a_run_picked_from_the_history(recorded, qtbot, tmp_path):
    page, recorder = recorded
    last = _write_run(tmp_path / "last", [{"phase": 1}])
    page._run_dir = str(last)
    picked = _write_run(tmp_path / "picked", [{"phase": 1}])  # 1 of 2 head epochs done
    with qtbot.waitSignal(page.run_finished, timeout=10_000):
        assert page.resume(str(picked)) is True
    config = recorder.configs[-1]
    assert config.run_dir == str(picked) and config.resume_from == str(picked)
    # what the picked run has left, not the page's 4 + 5 epochs
    assert (config.resume_plan.remaining_epochs, config.resume_plan.remaining_fine_tune_epochs) == (1, 1)
    assert page.resumable_run() == str(picked)  # Resume now means the picked run
    assert "Resuming the run in " + str(picked) in page.log.toPlainText()


def test_resume_a_completed_picked_run_trains_the_pages_epochs(recorded, qtbot, tmp_path):
    page, recorder = recorded
    done = _write_run(tmp_path / "done", [{"phase": 1}, {"phase": 1}, {"phase": 2}])
    with qtbot.waitSignal(page.run_finished, timeout=10_000):
        assert page.resume(done) is True  # a Path is accepted too
    config = recorder.configs[-1]
    assert (config.resume_plan.remaining_epochs, config.resume_plan.remaining_fine_tune_epochs) == (4, 5)
    assert config.resume_from == str(done)


def test_resume_without_a_run_dir_keeps_the_last_run(recorded, qtbot, tmp_path):
    page, recorder = recorded
    errors = []
    page.state.error_reported.connect(lambda message, details: errors.append(message))
    assert page.resume() is False and "no earlier run" in errors[-1]
    last = _write_run(tmp_path / "last", [{"phase": 1}])
    page._run_dir = str(last)
    page._update_buttons()
    with qtbot.waitSignal(page.run_finished, timeout=10_000):
        qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    assert recorder.configs[-1].resume_from == str(last)


def test_resume_a_picked_run_that_cannot_be_resumed_says_why(recorded, tmp_path):
    page, recorder = recorded
    errors = []
    page.state.error_reported.connect(lambda message, details: errors.append(message))
    assert page.resume(str(tmp_path / "missing")) is False
    assert "missing" in errors[-1] and "does not exist" in errors[-1]
    early = _write_run(tmp_path / "early", [], checkpoint=False)
    assert page.resume(str(early)) is False
    assert "last.weights.h5" in errors[-1] and str(early) in errors[-1]
    not_a_run = tmp_path / "plain"
    not_a_run.mkdir()
    (not_a_run / "last.weights.h5").write_bytes(b"")
    assert page.resume(str(not_a_run)) is False
    assert "run_config.json" in errors[-1]
    assert recorder.configs == [] and not page.is_running()


@pytest.mark.parametrize("size", [(856, 610), (1432, 930)])  # the page's share of a 1024x680 and a 1600x1000 window
@pytest.mark.parametrize("advice", [False, True])
def test_plots_stay_readable_with_the_lr_strip_and_no_legend_over_a_curve(qtbot, size, advice):
    from tests.support.plots import drawn_labels, feed_demo_run, scene_rect
    from tlstudio.events import TrainingAdvice

    page = TrainPage(AppState())
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    qtbot.waitExposed(page)
    plots = page.plots
    qtbot.waitUntil(lambda: all(holder.built for holder in plots.holders.values()))  # built when shown, one a turn
    feed_demo_run(plots)
    if advice:  # the badge above the plots (four lines at 1024 px) takes their height
        for code in ("a", "b"):
            page.handle_event(TrainingAdvice(code, "Training harder than validation", "seen",
                                             "Use less augmentation (smaller rotation, zoom and contrast) or a lower head "
                                             "dropout: the training images are harder than the real ones.", 4))
    qtbot.wait(50)
    # the learning rate is never hidden: a strip with both rates and the labelled fine-tuning marker
    assert plots.lr_widget.isVisible()
    lr_box = plots.lr_widget.getPlotItem().getViewBox()
    assert lr_box.height() >= 36
    assert drawn_labels(plots.lr_widget.getPlotItem().getAxis("left")) == ["1e-4", "1e-3"]
    label = plots.phase_lines[-1].label
    assert label.toPlainText() == "fine-tune · LR 1e-4"
    assert scene_rect(lr_box, plots).contains(scene_rect(label, plots))
    for widget in (plots.loss_widget, plots.acc_widget):
        assert widget.getPlotItem().getViewBox().height() >= 90
        assert not plots.legend.geometry().intersects(widget.geometry())
    assert plots.legend.height() < 2 * plots.legend.fontMetrics().lineSpacing()
    assert page.log.height() >= 60
    right_edge = plots.mapTo(page, plots.rect().topRight()).x()
    assert right_edge <= page.width() - 8


# --------------------------------------------------------------- resume numbering


def _resumed_started(remaining=1, steps=4, val_steps=2):
    """RunStarted of a resumed session: only the epochs the run has left are planned."""
    phases = (PhasePlan(2, "fine_tune", remaining, 1e-5, 60, 50),)
    return RunStarted("/tmp/run", ("a", "b"), phases, remaining, steps, val_steps, 16, 8, 4)


def _train_then_cancel(page, done=6, steps=4, partial=2):
    """Draw ``done`` whole epochs (5 head + 1 fine-tune) and ``partial`` batches of a cut-short epoch."""
    phases = (PhasePlan(1, "head", 5, 1e-3, 10, 100), PhasePlan(2, "fine_tune", 2, 1e-5, 60, 50))
    page.handle_event(RunStarted("/tmp/run", ("a", "b"), phases, 7, steps, 2, 16, 8, 4))
    page.handle_event(PhaseChanged(1, "head", 0, 5, 1e-3, 10, 100))
    for epoch in range(done + 1):
        if epoch == 5:
            page.handle_event(PhaseChanged(2, "fine_tune", 5, 2, 1e-5, 60, 50))
        phase = 1 if epoch < 5 else 2
        for b in range(steps if epoch < done else partial):
            page.handle_event(_batch(epoch, b, 0.5, 0.8, steps=steps, phase=phase))
        if epoch < done:
            page.handle_event(EpochEnd(phase, epoch, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7}, 1e-3, 1.0))


def test_a_resumed_session_counts_epochs_over_the_whole_run(page):
    """Phase 2 · epoch 7/6 · 100% must not happen: the bar counts the run's 7 epochs."""
    _train_then_cancel(page)
    page.handle_event(_resumed_started(remaining=1))
    page.handle_event(PhaseChanged(2, "fine_tune", 6, 1, 1e-5, 60, 50))
    page.handle_event(_batch(6, 0, 0.4, 0.8, phase=2))
    assert "epoch 7/7" in page.progress.format() and "batch 1/4" in page.progress.format()
    assert page.progress.maximum() == 7 * 4
    assert page.progress.value() == 6 * 4 + 1  # 6 epochs done before, 1 batch of the 7th: not 100 %
    assert "1 epoch (epoch 7)" in page.log.toPlainText()
    assert "1 epochs" not in page.log.toPlainText()


def test_a_resumed_session_draws_over_the_cut_short_epoch_and_ends_the_axis_at_the_last_epoch(page):
    plots = page.plots
    _train_then_cancel(page)
    assert plots.series["loss_batch"].x.max() == pytest.approx(6.5)  # the cut-short epoch's 2 of 4 batches
    page.handle_event(_resumed_started(remaining=1))
    page.handle_event(PhaseChanged(2, "fine_tune", 6, 1, 1e-5, 60, 50))
    # the partial epoch is gone: it is trained again
    assert plots.series["loss_batch"].x.max() == pytest.approx(6.0)
    assert plots.point_count("loss_train") == 6 and plots.point_count("loss_val") == 6
    (x0, x1), _ = plots.loss_widget.getPlotItem().viewRange()
    assert 7.0 <= x1 < 7.3  # a 7-epoch run, not 8
    page.handle_event(_batch(6, 3, 0.4, 0.8, phase=2))
    page.handle_event(EpochEnd(2, 6, {"loss": 0.4, "accuracy": 0.85}, 1e-5, 1.0))
    (x0, x1), _ = plots.loss_widget.getPlotItem().viewRange()
    assert 7.0 <= x1 < 7.3 and plots.phase2_epoch == 5.0


def test_resuming_another_run_draws_its_history_first(recorded, qtbot, tmp_path):
    page, _recorder = recorded
    history = [{"epoch": e, "phase": 1 if e < 2 else 2, "loss": 1.0 - e / 10, "accuracy": 0.5 + e / 10,
                "val_loss": 1.1, "val_accuracy": 0.5, "lr": 1e-3 if e < 2 else 1e-5} for e in range(3)]
    run = _write_run(tmp_path / "three", history[:2], epochs=2, fine_tune_epochs=2)
    with qtbot.waitSignal(page.run_finished, timeout=10_000):
        assert page.resume(str(run)) is True
    assert page.plots.point_count("loss_train") == 2 and page.plots.point_count("acc_val") == 2


def test_resume_message_and_recorded_config_are_the_runs_own(recorded, qtbot, tmp_path):
    """The project records run_config.json's settings (5 epochs), not the epochs left (4)."""
    page, recorder = recorded
    run = _write_run(tmp_path / "walk", [{"epoch": 0, "phase": 1}], epochs=5, fine_tune_epochs=2)
    with qtbot.waitSignal(page.run_finished, timeout=10_000):
        assert page.resume(str(run)) is True
    sent = recorder.configs[-1]
    assert (sent.resume_plan.remaining_epochs, sent.resume_plan.remaining_fine_tune_epochs) == (4, 2)  # the engine trains what is left
    kept = page.state.last_run_config
    assert (kept.train.epochs, kept.train.fine_tune_epochs) == (5, 2)  # what the project stores
    assert not kept.resume_from
    log = page.log.toPlainText()
    assert "1 epoch done; training the 4 epochs of head training and 2 epochs of fine-tuning it has left (to epoch 7)" in log


def test_resume_message_of_a_completed_run():
    from ui.jobs.train_text import resume_message

    text = resume_message("/r", 7, 0, 1, extended=True)
    assert text == "Resuming the run in /r: 7 epochs done, its plan complete; training 1 epoch of fine-tuning more as set on this page (to epoch 8)"


# ------------------------------------------------------------------ validation


def test_validation_shows_on_the_progress_bar(page):
    page.handle_event(_run_started(steps=4))
    page.handle_event(PhaseChanged(1, "head", 0, 2, 1e-3, 10, 100))
    page.handle_event(_batch(0, 3, 0.5, 0.5))
    from tlstudio.events import Validating

    page.handle_event(Validating(1, 0, 0, 0))
    assert "validating 0/1…" in page.progress.format() and "epoch 1/3" in page.progress.format()
    page.handle_event(Validating(1, 0, 1, 3))
    assert "validating 1/3…" in page.progress.format()


def test_the_eta_times_validation_apart_and_does_not_jump():
    """1 s per training step, 4 s per validation: the estimate holds across the first validation."""
    from ui.jobs.train_eta import EtaClock

    clock = EtaClock(total_epochs=3, first_epoch=0, steps=4, validation_steps=4)
    clock.phase_changed(1)
    t = 0.0
    estimates = []
    for epoch in range(2):
        for b in range(4):
            t += 1.0
            clock.batch(t, epoch, b, epoch * 4 + b + 1)
            if clock.seconds_left(t) is not None:
                estimates.append((t, clock.seconds_left(t)))
        clock.validating(t)
        t += 4.0
        clock.epoch_end(t, epoch)
    # every estimate plus the time it was made is the run's true end: 3 x (4 + 4) s
    for when, left in estimates:
        assert when + left == pytest.approx(24.0, abs=1.01)


def test_the_progress_bar_keeps_its_width_when_the_eta_appears(page, qtbot):
    page.handle_event(_run_started())
    qtbot.wait(10)
    width, height = page.progress.width(), page.speed_label.height()
    page.speed_label.setText("ETA 1:38 · 120 images/s")
    qtbot.wait(10)
    assert page.progress.width() == width and page.speed_label.height() == height
    # the longest text fits the bar at the page's share of a 1024 px window
    page.resize(850, 620)
    qtbot.wait(10)
    text = "Phase 2 · epoch 10/10 · validating 12/12… · 100%"
    assert page.progress.fontMetrics().horizontalAdvance(text) < page.progress.width()


# -------------------------------------------------------------------- advice


def test_advice_is_a_log_line_and_a_badge_never_a_dialog(page):
    from tlstudio.events import TrainingAdvice

    errors = []
    page.state.error_reported.connect(lambda message, details: errors.append(message))
    page.handle_event(_run_started())
    assert not page.advice_label.isVisible()
    page.handle_event(TrainingAdvice("high_initial_loss", "Loss far above chance", "The loss is 6.80; ln(2) = 0.69.",
                                     "Lower the learning rate.", 0))
    assert page.advice_label.isVisible() and "Loss far above chance" in page.advice_label.text()
    assert "Lower the learning rate" in page.advice_label.text()
    assert "» Advice (Loss far above chance, epoch 1)" in page.log.toPlainText()
    page.handle_event(TrainingAdvice("chance_accuracy", "Accuracy at chance", "0.50 after 3 epochs", "Check the labels.", 2))
    assert "Accuracy at chance" in page.advice_label.text() and "+1 more" in page.advice_label.text()
    assert "Loss far above chance" in page.advice_label.toolTip()
    assert errors == [] and page.advice[0].code == "high_initial_loss"


# ----------------------------------------------------------------------- log


def test_the_log_keeps_a_readable_height_and_follows_every_run(page, qtbot):
    line = page.log.fontMetrics().lineSpacing()
    assert page.log.height() >= 6 * line
    bar = page.log.verticalScrollBar()
    for i in range(200):
        page._log(f"line {i}")
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    bar.setValue(0)  # the user scrolls up to read: new lines do not pull the view away
    page._log("more")
    assert bar.value() == 0
    page._follow_log()  # what every new run or resume does
    page._log("second run")
    assert bar.value() == bar.maximum()
    page._log("and on")
    assert bar.value() == bar.maximum()


def test_a_withdrawn_advice_leaves_the_badge(qtbot):
    """Issue 24: "Accuracy at chance" stayed on screen after the run reached val 0.889."""
    from tlstudio.events import TrainingAdvice
    from ui.panels.advice_badge import AdviceBadge

    badge = AdviceBadge()
    qtbot.addWidget(badge)
    badge.add(TrainingAdvice("overfitting", "Overfitting", "gap", "more augmentation", 1))
    badge.add(TrainingAdvice("chance_accuracy", "Accuracy at chance", "0.35 after 3 epochs", "lower the rate", 2))
    badge.add(TrainingAdvice("chance_accuracy", "Learning after all", "Epoch 4: validation 0.70", "", 3, withdrawn=True))
    assert [a.code for a in badge.advice] == ["overfitting"]
    assert "Overfitting" in badge.text() and "chance" not in badge.toolTip().lower()
    badge.add(TrainingAdvice("overfitting", "Learning after all", "fine now", "", 4, withdrawn=True))
    assert badge.advice == [] and not badge.isVisibleTo(badge.parentWidget() or badge)


def test_the_summary_of_a_run_cancelled_before_its_first_epoch_names_no_model():
    from ui.jobs.run_view import RunView
    from ui.jobs.train_text import run_summary

    text = run_summary(RunView(run_dir="/runs/r", status="no epoch completed", epochs_completed=0, model_path=None, best_metrics={}))
    assert "Model saved" not in text and "no epoch completed" in text and "no model was saved" in text


def test_an_engine_crash_during_training_is_a_plain_message_naming_the_epoch_to_resume_from(page, tmp_path, fake_engine, qtbot):
    """Issue 24: after an engine crash, a plain message; the technical text only in the details."""
    import json

    from tests.support.fake_engine import _InProcess
    from tlstudio.procrun import EngineProcessError

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "history.json").write_text(json.dumps([{"epoch": 0, "phase": 1, "loss": 1.0}, {"epoch": 1, "phase": 1, "loss": 0.8}]))
    (run_dir / "last.weights.h5").write_bytes(b"checkpoint")
    started = dataclasses.replace(_run_started(), run_dir=str(run_dir))

    def crash(config, *, sink, cancel):
        sink(started)
        raise EngineProcessError("the engine process ended unexpectedly (exit code -9)")

    fake_engine.register("train", _InProcess(crash))
    reports = []
    page.state.error_reported.connect(lambda message, details: reports.append((message, details)))
    page.state.update_data_config(root=str(tmp_path))
    with qtbot.waitSignal(page.run_finished, timeout=10_000):
        assert page.start()
    message, details = reports[0]
    assert message == f"The engine stopped during training; the run in {run_dir} can be resumed from epoch 3 (Resume)."
    assert "EngineProcessError" not in message and "exit code -9" in details
    assert page.resume_button.isEnabled()
