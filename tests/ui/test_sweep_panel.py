"""The Model page's "Head sweep" tab: trial table, plots, storage in the project, resume and promote.

The table and plots are driven with real :class:`~tlstudio.api.sweep.Trial`
instances (the data the engine sends). The panel tests run the real
``"sweep"`` job in the session's engine process on a tiny generated dataset
(VGG16 with random weights at 32 px, a linear head, 2 folds, 3 epochs).
"""

from __future__ import annotations

import pytest

import math
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from tlstudio.analysis.promote import head_config
from tlstudio.config import DataConfig, FreezeConfig, ModelConfig, TrainConfig
from tlstudio.api.sweep import SweepResult, Trial, TrialFinished, TrialParams
from tlstudio.project.sweeps import last_sweep, sweeps_folder
from ui.jobs.sweep_jobs import fine_tune_freeze
from ui.panels.sweep_panel import SweepPanel
from ui.state import AppState
from ui.widgets.sweep_plot import SweepPlot, axis_positions, best_so_far
from ui.widgets.sweep_table import SweepTable

SWEEP_TIMEOUT_MS = 120_000


def _trial(cut="block3_pool", acc=0.7, std=0.02, lr=1e-3, wd=0.0, hidden=(), error="", seconds=1.5):
    params = TrialParams(cut=cut, hidden=hidden, learning_rate=lr, weight_decay=wd, epochs=3)
    if error:
        return Trial(params, float("nan"), float("nan"), seconds, error=error)
    return Trial(params, acc, std, seconds, fold_accuracies=(acc - std, acc + std), epochs_run=(3, 2))


TRIALS = [
    _trial("block3_pool", 0.62, lr=1e-3),
    _trial("block1_pool", 0.55, lr=3e-4, wd=1e-2, hidden=(16,)),
    _trial("block4_pool", 0.0, error="ValueError: features contain NaN"),
    _trial("block4_pool", 0.81, lr=3e-3, wd=1e-1, hidden=(32, 16)),
    _trial("block2_pool", 0.74, lr=1e-3),
]


def _grab(widget, name: str, tmp_path: Path) -> Path:
    out = tmp_path / f"{name}.png"
    assert widget.grab().save(str(out))
    target = os.environ.get("TLSTUDIO_GRAB_DIR")
    if target:
        widget.grab().save(str(Path(target) / out.name))
    return out


def test_a_table_filled_while_hidden_fits_its_columns_when_shown(qtbot):
    """Filling a hidden table measures nothing (the Model page is built in the background with its sweep tab
    hidden); shown, every column is wide enough for its header and its first rows."""
    from ui.widgets.sweep_table import STATUS_COLUMN

    table = SweepTable()
    qtbot.addWidget(table)
    table.trials.set_trials([_trial(cut=f"block{i}_pool_with_a_long_name", lr=1e-3 * (i + 1)) for i in range(1, 5)])
    table.resize(1400, 300)
    table.show()
    qtbot.waitExposed(table)
    header = table.horizontalHeader()
    for column in range(table.model().columnCount() - 1):  # the last one stretches
        if column == STATUS_COLUMN:
            continue
        wanted = max(table.sizeHintForColumn(column), header.sectionSizeHint(column))
        assert header.sectionSize(column) >= wanted, (column, header.sectionSize(column), wanted)


def test_table_sorts_numbers_as_numbers_and_lists_a_failed_trial_with_its_message(qtbot):
    table = SweepTable()
    qtbot.addWidget(table)
    for i, trial in enumerate(TRIALS):
        table.trials.put(i, trial)
    model, proxy = table.trials, table.proxy
    assert model.rowCount() == 5 and model.best == 3
    failed = model.index(2, 3)
    assert model.data(failed) == "failed: ValueError: features contain NaN"
    assert model.data(model.index(2, 1)) == "—"
    assert "failed and the sweep went on" in model.data(failed, Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(3, 1), Qt.ItemDataRole.FontRole).bold()
    assert model.data(model.index(3, 6)) == "32+16"

    table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # CV accuracy, best first; the failed one last
    order = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert order == ["4", "5", "1", "2", "3"]
    table.sortByColumn(8, Qt.SortOrder.AscendingOrder)  # learning rate: 3e-4 < 1e-3 < 3e-3 numerically
    lrs = [proxy.index(r, 8).data() for r in range(proxy.rowCount())]
    assert lrs[0] == "0.0003" and lrs[-1] == "0.003"
    table.select_trial(3)  # by plan position, whatever the sort
    assert table.selected_trial() is TRIALS[3]


def test_plot_draws_score_by_parameter_and_the_best_so_far_line(qtbot, tmp_path):
    plot = SweepPlot()
    qtbot.addWidget(plot)
    plot.resize(700, 260)
    cuts = tuple(f"block{i}_pool" for i in range(1, 6))
    plot.set_trials([], cuts)
    for i, trial in enumerate(TRIALS):
        plot.add_trial(i, trial)
        x, y = plot.best_line_data()
        scored = [t.cv_accuracy for t in TRIALS[: i + 1] if t.ok]
        assert len(y) == i + 1 and math.isclose(y[-1], max(scored))
    x, y = plot.best_line_data()
    assert list(x) == [1, 2, 3, 4, 5] and np.allclose(y, [0.62, 0.62, 0.62, 0.81, 0.81])
    assert np.all(np.diff(y) >= 0)
    assert len(plot.points.points()) == 4  # the failed trial has no score
    spot = max(plot.points.points(), key=lambda p: p.pos().y())
    with qtbot.waitSignal(plot.trial_clicked) as clicked:  # a click selects the trial in the table
        plot.points.sigClicked.emit(plot.points, [spot], None)
    assert clicked.args == [3] and "trial 4: 81.0%" in plot._tip(0, 0, spot.data())

    xs, ticks = axis_positions([t for t in TRIALS if t.ok], "cut", cuts)
    assert [label for _x, label in ticks] == ["block1", "block2", "block3", "block4"]  # by depth, short enough to fit
    assert xs == [2.0, 0.0, 3.0, 1.0]
    xs, ticks = axis_positions([t for t in TRIALS if t.ok], "weight_decay")
    assert xs[0] < xs[1] < xs[2] and ticks[0][1] == "0"  # 0 gets its own tick left of the log axis
    plot.set_parameter("learning_rate")
    assert plot.scale_note.text() == "log scale"
    png = _grab(plot, "sweep_plot", tmp_path)
    assert png.stat().st_size > 3000
    assert best_so_far([TRIALS[2]])[0].size == 0


def test_fine_tuning_a_fully_frozen_promoted_model_unfreezes_the_last_block_up_to_the_cut():
    model = ModelConfig(backbone="vgg16", cut="block3_pool", freeze=FreezeConfig(mode="all"))
    assert fine_tune_freeze(model) == FreezeConfig(mode="blocks", blocks=("block1", "block2"))
    assert fine_tune_freeze(ModelConfig(backbone="vgg16")).blocks == ("block1", "block2", "block3", "block4")


def _panel(qtbot, dataset: Path, project: Path) -> SweepPanel:
    state = AppState(
        model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32),
        data_config=DataConfig(root=str(dataset), val_fraction=0.25),
        train_config=TrainConfig(epochs=3, batch_size=8, patience=2),
    )
    panel = SweepPanel(state, project_path=lambda: project)
    qtbot.addWidget(panel)
    panel.resize(900, 640)
    panel.show()
    panel.search_combo.setCurrentIndex(panel.search_combo.findData("grid"))
    panel.folds_spin.setValue(2)
    panel.param_edits["cuts"].setText("block2_pool, block3_pool")
    panel.param_edits["poolings"].setText("avg")
    for key in ("hidden", "dropouts", "label_smoothings", "epochs"):
        panel.param_checks[key].setChecked(False)  # the pages' values: linear head, dropout 0.2, 3 epochs
    panel.param_edits["learning_rates"].setText("0.001, 0.01")
    panel.param_edits["weight_decays"].setText("0")
    return panel


@pytest.mark.engine
def test_sweep_runs_in_the_engine_is_stored_in_the_project_and_resumes(qtbot, tiny_dataset, tmp_path):
    project = tmp_path / "proj" / "ants.tlsproj"
    panel = _panel(qtbot, tiny_dataset, project)
    assert panel.run.__self__ is panel and not panel.resume_button.isEnabled()
    events: list[TrialFinished] = []
    panel.runner.event.connect(lambda e: events.append(e) if isinstance(e, TrialFinished) else None)
    panel.trials_spin.setValue(4)  # the whole 2 cuts x 2 learning rates grid

    def cancel_after_two(event):
        if isinstance(event, TrialFinished) and event.index == 1:
            panel.runner.cancel()

    panel.runner.event.connect(cancel_after_two)
    with qtbot.waitSignal(panel.finished_sweep, timeout=SWEEP_TIMEOUT_MS) as got:
        assert panel.run() is True
        assert panel.runner.job == "sweep"
    qtbot.waitUntil(lambda: not panel.runner.is_running(), timeout=30_000)
    panel.runner.event.disconnect(cancel_after_two)
    first: SweepResult = got.args[0]
    assert first.cancelled and 2 <= len(first.trials) < 4
    assert [e.index for e in events][:2] == [0, 1]
    assert panel.table.trials.rowCount() == len(first.trials)
    x, y = panel.plot.best_line_data()
    assert len(y) == len(first.trials) and math.isclose(y[-1], max(t.cv_accuracy for t in first.trials))

    folder = sweeps_folder(project)
    assert folder == tmp_path / "proj" / "ants.sweeps"
    stored = last_sweep(folder)
    assert stored is not None and len(stored.trials) == len(first.trials) and not stored.complete
    assert stored.config.space.cuts == ("block2_pool", "block3_pool") and stored.config.trials == 4

    # reopening the project: a new panel shows the last sweep, and Resume finishes it
    again = _panel(qtbot, tiny_dataset, project)
    assert again.table.trials.rowCount() == len(first.trials)
    assert "Resume continues it" in again.controls.status.text()
    assert again.resume_button.isEnabled()
    with qtbot.waitSignal(again.finished_sweep, timeout=SWEEP_TIMEOUT_MS) as got:
        assert again.resume() is True
    qtbot.waitUntil(lambda: not again.runner.is_running(), timeout=30_000)
    done: SweepResult = got.args[0]
    assert not done.cancelled and len(done.trials) == 4
    assert sum(t.resumed for t in done.trials) == len(first.trials)
    statuses = [again.table.trials.data(again.table.trials.index(r, 3)) for r in range(4)]
    assert statuses.count("resumed") == len(first.trials) and statuses.count("ok") == 4 - len(first.trials)
    assert last_sweep(folder).complete and not again.resume_button.isEnabled()
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 1  # resumed in place, nothing overwritten elsewhere

    # promote the best trial: the same head and training as the trial
    assert again.table.selected_row() == done.best_index
    best = done.best
    run = again.promote_selected(start=False)
    state = again.state
    assert run is not None and state.model_config.head == head_config(best.params)
    assert state.model_config.cut == best.params.cut
    assert state.train_config.learning_rate == best.params.learning_rate and state.train_config.epochs == 3
    assert state.train_config.fine_tune_epochs == 0
    again.fine_tune_check.setChecked(True)
    run = again.promote_selected(start=False)
    assert run.train.fine_tune_epochs == 5 and state.model_config.freeze.mode == "blocks"
    assert "unfreezes the last block" in again.promote_hint.text()
    _grab(again, "sweep_panel", tmp_path)


def test_run_refuses_without_a_dataset_and_a_bad_value_names_the_parameter(qtbot, tmp_path):
    panel = SweepPanel(AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32)),
                       project_path=lambda: None)
    qtbot.addWidget(panel)
    assert panel.run() is False
    assert "Open a dataset on the Data page" in panel.controls.status.text()
    panel.state.update_data_config(root=str(tmp_path))
    panel.param_edits["learning_rates"].setText("0.001, fast")
    assert panel.run() is False
    text = panel.controls.status.text()
    assert "Learning rate" in text and "Received: '0.001, fast'" in text
    panel.param_edits["learning_rates"].setText("0.001")
    panel.param_edits["cuts"].setText("block9_pool")
    assert panel.run() is False and "'block9_pool' is not a cut point of vgg16" in panel.controls.status.text()
    assert not panel.runner.is_running()
    assert not panel.promote_button.isEnabled() and panel.promote_selected() is None


def test_train_page_auto_checkbox_edits_train_config_auto_head(qtbot, tmp_path):
    from ui.pages.train_page import TrainPage

    state = AppState(train_config=TrainConfig(epochs=2))
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1024, 680)
    page.show()
    check = page.auto_head_check
    assert check.text() == "Choose cut and head automatically" and not check.isChecked()
    check.setChecked(True)
    assert state.train_config.auto_head is True
    assert state.run_config().train.auto_head is True  # what Start sends to the train job
    state.update_train_config(auto_head=False)
    assert not check.isChecked()
    # the form column keeps its width: the box and its hint fit without sideways scrolling
    left = check.parentWidget()
    assert check.geometry().right() <= left.width()
    _grab(page, "train_page_auto", tmp_path)


@pytest.mark.engine
def test_promote_in_the_window_starts_the_full_run_on_the_train_page(main_window, qtbot, tiny_dataset):
    """Promote puts the trial into the Model and Train pages and the Train page starts it in the engine."""
    from tlstudio.api.sweep import SweepConfig

    state = main_window.state
    model = ModelConfig(backbone="vgg16", weights="none", image_size=32)
    state.set_model_config(model)
    state.set_train_config(TrainConfig(epochs=3, batch_size=8, tensorboard=False))
    state.set_data_config(DataConfig(root=str(tiny_dataset), val_fraction=0.25))
    main_window.show_page("model")
    panel = main_window.pages["model"].sweep_panel
    panel.shown = SweepConfig(data=state.data_config, model=model, batch_size=8, patience=2)
    panel._show_trials(TRIALS)
    panel.table.select_trial(3)
    assert panel.promote_button.isEnabled()
    train_page = main_window.pages["train"]
    with qtbot.waitSignal(train_page.run_finished, timeout=SWEEP_TIMEOUT_MS) as finished:
        run = panel.promote_selected()
        assert run is not None and main_window.current_page_key() == "train"
        assert train_page.runner.is_running() and train_page.runner.job == "train"
        sent = state.last_run_config
        assert sent.model.head == head_config(TRIALS[3].params) and sent.model.cut == "block4_pool"
        assert sent.train.learning_rate == TRIALS[3].params.learning_rate and sent.train.optimizer == "adamw"
        train_page.cancel()
    assert finished.args[0] is None or finished.args[0].error is None


def test_the_space_size_line_counts_the_grid_and_follows_the_ticks(qtbot):
    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
    panel = SweepPanel(state, project_path=lambda: None)
    qtbot.addWidget(panel)
    panel.search_combo.setCurrentIndex(panel.search_combo.findData("grid"))
    panel.trials_spin.setValue(0)
    from tlstudio.analysis.sweep import grid_size  # the engine's count of the same space
    from tlstudio.backbones import cut_points

    size = grid_size(panel.space(state.model_config, state.train_config), cut_points("vgg16"))
    assert size == 4320  # 5 cuts x 2 poolings x 4 hidden x 3 dropouts x 3 rates x 3 decays x 2 smoothings x 2 budgets
    assert panel.size_label.text() == "grid of 4,320 points: 4,320 trials"
    for key in ("poolings", "hidden", "dropouts", "weight_decays", "label_smoothings", "epochs"):
        panel.param_checks[key].setChecked(False)
    panel.trials_spin.setValue(10)
    assert panel.size_label.text() == "grid of 15 points: 10 trials"
    panel.param_edits["learning_rates"].setText("0.001, x")
    assert panel.size_label.text() == "space not valid" and "Received" in panel.size_label.toolTip()


def test_trials_of_other_settings_say_so_and_auto_head_shows_on_the_model_page(qtbot, tmp_path):
    from tlstudio.api.sweep import SweepConfig
    from ui.pages.model_page import ModelPage

    model = ModelConfig(backbone="vgg16", weights="none", image_size=32)
    state = AppState(model_config=model, data_config=DataConfig(root=str(tmp_path)))
    page = ModelPage(state)
    qtbot.addWidget(page)
    panel = page.sweep_panel
    panel.shown = SweepConfig(data=state.data_config, model=model)
    panel._show_trials(TRIALS)
    assert panel.stale.isHidden()
    state.update_model_config(image_size=48)
    assert not panel.stale.isHidden() and "32 px" in panel.stale.text() and str(tmp_path) in panel.stale.text()
    assert page.auto_note.isHidden()
    state.update_train_config(auto_head=True)
    assert not page.auto_note.isHidden()


def test_opening_a_project_shows_its_last_sweep(qtbot, tmp_path):
    """The panel follows the state's project controller: open shows that project's sweep, new shows none of it."""
    from tlstudio.analysis import sweep_store
    from tlstudio.api.sweep import SweepConfig
    from tlstudio.project.sweeps import new_sweep
    from ui.project_controller import project_controller

    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
    controller = project_controller(state)
    try:
        path = controller.save(tmp_path / "bees.tlsproj")
        config = new_sweep(sweeps_folder(path), SweepConfig(model=state.model_config, trials=5))
        sweep_store.save(config.trials_file, {}, TRIALS)
        panel = SweepPanel(state)  # the controller's project path, not a given one
        qtbot.addWidget(panel)
        assert panel.sweeps_folder() == tmp_path / "bees.sweeps"
        assert panel.table.trials.rowCount() == 5 and panel.stored.folder.parent == tmp_path / "bees.sweeps"
        assert panel.resume_button.isEnabled()  # 4 of 5 scored: not complete

        controller.new_project()
        assert panel.stored is None or panel.stored.folder.parent != tmp_path / "bees.sweeps"
        controller.open_project(path)
        assert panel.table.trials.rowCount() == 5 and panel.shown.trials == 5
        assert panel.table.trials.data(panel.table.trials.index(2, 3)).startswith("failed: ValueError")
    finally:
        controller.discard_own_autosave()


def test_reopening_a_project_restores_its_probe_map_and_sweep(qtbot, tmp_path, fake_engine, monkeypatch):
    """Issue 24: after a reopen the probe chart came back empty, the sweep said "No scored trial yet", the map was gone."""
    from tlstudio.analysis import sweep_store
    from tlstudio.api.embed import EmbedConfig, EmbedResult
    from tlstudio.api.probe import CutScore, ProbeConfig, ProbeResult
    from tlstudio.api.sweep import SweepConfig
    from ui.panels.embedding_map import EmbeddingMap
    from ui.panels.probe_panel import ProbePanel
    from ui.project_controller import project_controller

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))  # an untitled project's sweeps go here
    state = AppState(data_config=DataConfig(root=str(tmp_path / "d")),
                     model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
    controller = project_controller(state)
    probe_result = ProbeResult((CutScore("block1_pool", 0.6, 0.02, 64, 0), CutScore("block2_pool", 0.9, 0.01, 128, 1)),
                               "block2_pool", "block2 transfers best", ("a", "b"), 20, 3, 0.5, 1.0)
    points = EmbedResult(np.array([[0.0, 0.0], [0.5, 0.5]], np.float32), np.array([0, 1]), ("/d/a/1.png", "/d/b/1.png"),
                         ("train", "val"), ("a", "b"), method="pca", cut="block5_pool", root=str(tmp_path / "d"))

    def sweep(config):
        sweep_store.save(config.trials_file, {}, TRIALS)
        return SweepResult(tuple(TRIALS), 3)

    fake_engine.register(ProbeConfig, probe_result)
    fake_engine.register(EmbedConfig, points)
    fake_engine.register(SweepConfig, sweep)
    try:
        probe, emap, panel = ProbePanel(state), EmbeddingMap(state), SweepPanel(state)
        emap.open_images = False
        for widget in (probe, emap, panel):
            qtbot.addWidget(widget)
        with qtbot.waitSignal(probe.runner.finished, timeout=10_000):
            probe.start(probe.config_for(state.data_config, state.model_config))
        with qtbot.waitSignal(emap.runner.finished, timeout=10_000):
            emap.compute()
        with qtbot.waitSignal(panel.runner.finished, timeout=10_000):
            panel.run(SweepConfig(data=state.data_config, model=state.model_config, trials=5))
        assert panel.table.trials.rowCount() == 5
        path = controller.save(tmp_path / "p.tlsproj")  # Save As: the sweep stays in the cache folder

        controller.new_project()  # nothing of the previous project stays on screen
        assert probe.chart.result is None and emap.result is None and panel.table.trials.rowCount() == 0

        controller.open_project(path)
        assert probe.chart.result == probe_result and probe.use_button.isEnabled()
        assert "project" in probe.controls.status.text()
        assert emap.result is not None and emap.result.paths == points.paths and len(emap.scatter.data) == 2
        assert "project" in emap.controls.status.text()
        assert panel.table.trials.rowCount() == 5 and panel.resume_button.isEnabled()
    finally:
        controller.discard_own_autosave()


def test_promote_says_every_training_setting_it_changes():
    """Issue 24: promote set label smoothing, weight decay, the seed and class weights silently, for every later run."""
    from tlstudio.api.sweep import SweepConfig
    from ui.jobs.sweep_jobs import promotion

    params = TrialParams(cut="block3_pool", hidden=(), learning_rate=1e-3, weight_decay=0.0, epochs=3, label_smoothing=0.0997)
    trial = Trial(params, 0.8, 0.02, 1.0, fold_accuracies=(0.78, 0.82), epochs_run=(3, 3))
    sweep = SweepConfig(data=DataConfig(root="/d"), model=ModelConfig(backbone="vgg16", weights="none", image_size=32),
                        trials=5, seed=0)
    now = TrainConfig(seed=1337, class_weights=True, label_smoothing=0.0, weight_decay=1e-4, learning_rate=1e-3)
    run, notes = promotion(trial, sweep, fine_tune_epochs=0, fine_tune_learning_rate=1e-5, model_now=sweep.model,
                           data_root_now="/d", train_now=now)
    said = "; ".join(notes)
    for change in ("label smoothing 0 → 0.0997", "weight decay 0.0001 → 0", "seed 1337 → 0", "balance classes on → off"):
        assert change in said, said
    assert "learning rate" not in said  # unchanged settings are not listed


def test_every_training_setting_a_run_uses_has_a_control_on_the_train_page(qtbot):
    from ui.panels.train_settings import TrainSettings

    state = AppState(train_config=TrainConfig(label_smoothing=0.1, weight_decay=0.01))
    settings = TrainSettings(state)
    qtbot.addWidget(settings)
    settings.bind()
    settings.show_config(state.train_config)
    assert settings.label_smoothing_spin.value() == pytest.approx(0.1)
    assert settings.weight_decay_spin.value() == pytest.approx(0.01)
    settings.label_smoothing_spin.setValue(0.0)
    assert state.train_config.label_smoothing == 0.0
    settings.set_running(True)
    assert not settings.label_smoothing_spin.isEnabled() and not settings.weight_decay_spin.isEnabled()
    assert not settings.auto_head_check.isEnabled()  # issue 24: nothing a run uses changes during it
