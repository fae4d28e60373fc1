"""The Evaluate page: how good is the model, and where does it fail?

* **Results**: validation (and test) accuracy, top-k, calibration error and a
  per-class table of the best model; a heat-coloured confusion matrix whose
  cells open the images behind them (true class, predicted class and
  probability, most confident first) and rings them on the Data page's
  embedding map ("Show on map" goes there; :mod:`ui.map_link`);
  "Show the most confident mistakes".
* **Test images**: pick a file, drop one or paste from the clipboard to see the
  top-k probabilities and a Grad-CAM overlay; test a whole folder and save the
  predictions as CSV.
* **Runs**: the project's run history and run comparison.

"Open exported model…" evaluates any exported model file the same way,
without the project. Every evaluation and prediction is a job of the engine
process (``evaluate``, ``predict``, see :mod:`tlstudio.jobs.evaluate`): the
page keeps only the model's path, the engine keeps the loaded model in its
cache, and the page receives plain results. It never imports TensorFlow.

The tabs are panels: :class:`~ui.panels.evaluation_results.EvaluationResults`,
:class:`~ui.panels.image_test.ImageTestPanel` and
:class:`~ui.widgets.run_history.RunHistoryWidget`; the jobs are built and their
results routed by :class:`~ui.jobs.evaluate_jobs.EvaluateJobs`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import DataConfig
from tlstudio.api.evaluate import EvaluationResult, ImagePrediction
from tlstudio.events import Progress
from tlstudio.api.evaluate import PredictResult
from tlstudio.api.model_ref import ModelRef
from ui.jobs.evaluate_jobs import EvaluateJobs, folder_images, is_run, model_source
from ui.panels.evaluation_results import EvaluationResults, summary_html
from ui.panels.image_test import ImageTestPanel, dropped_file
from ui.project_controller import project_controller
from ui.state import AppState
from ui.widgets.run_history import RunHistoryWidget
from ui.widgets.sections import Section, build_on_look

PROGRESS_VERBS = {"evaluate": "Evaluating", "predict": "Predicting", "load": "Loading", "validate": "Checking", "scan": "Scanning"}
"""Progress stage -> the word the progress bar starts with."""

PROGRESS_SAMPLE = "Evaluating 12,345/12,345 images"
"""The longest progress text the bar is sized for."""


class EvaluatePage(QWidget):
    """Metrics, confusion matrix, image tests and run history of the current model."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("EvaluatePage")
        self.state = state
        self.controller = project_controller(state)
        self.model_path = ""
        self.data: str | DataConfig | None = None
        self.splits: tuple[str, ...] = ("val", "test")
        self._stale = False
        self._fast_asked = False
        self._temp_dir = tempfile.TemporaryDirectory(prefix="tlstudio-paste-")
        self.jobs = EvaluateJobs(self)
        self.runner = self.jobs.runner
        self.runner.progress.connect(self._on_progress)
        self.runner.error.connect(self._on_error)
        self.runner.running_changed.connect(self._on_running)
        self.jobs.connect_result()

        # ---- header
        self.source_label = QLabel("No model yet: train one, or open an exported model.")
        self.source_label.setObjectName("ModelSource")
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Predict the validation (and test) images with the current model")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.fast_check = QCheckBox("Fast precision")  # issue 23: opt-in; float32 keeps the exported files' numbers
        self.fast_check.setObjectName("FastPrecision")
        self.fast_check.setToolTip(
            "Evaluate in the Train page's precision (bfloat16 or float16 where this machine is faster in it). "
            "Off: float32, exactly the numbers the exported files give.")
        self.open_button = QPushButton("Open exported model…")
        self.open_button.setToolTip("Evaluate any exported .keras / .tflite file or SavedModel folder on a dataset")
        self.open_button.clicked.connect(self.choose_exported_model)
        self.progress = QProgressBar()
        self.progress.setObjectName("EvaluateProgress")
        # wide enough for its longest text: "Evaluating 12,345/12,345 images" is never clipped
        self.progress.setMinimumWidth(self.progress.fontMetrics().horizontalAdvance(PROGRESS_SAMPLE) + 40)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the evaluation or prediction in progress (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.runner.cancel)
        header = QHBoxLayout()
        header.addWidget(self.source_label, 1)
        header.addWidget(self.progress)
        header.addWidget(self.cancel_button)
        header.addWidget(self.fast_check)
        header.addWidget(self.evaluate_button)
        header.addWidget(self.open_button)
        self.summary = QLabel("")
        self.summary.setObjectName("EvaluationSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setVisible(False)  # shown with the first text: no empty gap above the tabs

        # ---- results tab
        self.results_panel = EvaluationResults(state)
        for name in ("split_combo", "class_table", "matrix", "mistakes_button", "map_button",
                     "images_label", "thumbs", "thumb_view"):
            setattr(self, name, getattr(self.results_panel, name))

        # ---- test images tab
        self.image_test = ImageTestPanel(state)
        self.image_test.image_chosen.connect(self.test_image)
        self.image_test.paste_requested.connect(self.paste_image)
        self.image_test.folder_chosen.connect(self.test_folder)
        for name in ("drop_area", "bars", "prediction_label", "gradcam_box", "pick_button", "paste_button",
                     "folder_button", "csv_button", "folder_table", "folder_label"):
            setattr(self, name, getattr(self.image_test, name))

        # ---- runs tab: a part built after the page, on background turns of its own (ui.widgets.sections): the run
        # table and comparison were half of the page's build. Looking at page.history builds it at once.
        self._resume_handler: Callable[[str], Any] | None = None
        self._history_holder = Section(self._runs_section)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.results_panel, "Results")
        self.tabs.addTab(self.image_test, "Test images")
        self.tabs.addTab(self._history_holder, "Runs")
        title = QLabel("Evaluate")
        title.setObjectName("PageTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(header)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

        paste = QShortcut(QKeySequence.StandardKey.Paste, self)
        paste.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste_image)

        state.model_path_changed.connect(self._on_model_path)
        if state.model_path:
            self._on_model_path(state.model_path)
        self._update_buttons()

    def __getattr__(self, name: str) -> Any:
        """``history``: the Runs tab's part is built now if its turn has not come yet."""
        return build_on_look(self, name, {"history": "_history_holder"})

    def _runs_section(self) -> QWidget:
        self.history = RunHistoryWidget(self.controller)
        if self._resume_handler is not None:
            self.history.set_resume_handler(self._resume_handler)
        return self.history

    def set_resume_handler(self, handler: Callable[[str], Any] | None) -> None:
        """What the Runs tab's Resume button calls with a run folder (its part may not be built yet)."""
        self._resume_handler = handler
        if "history" in self.__dict__:
            self.history.set_resume_handler(handler)

    # ------------------------------------------------------------- the panels' state

    @property
    def reliability(self):
        """The Results tab's reliability plot (built now if it was not shown yet)."""
        return self.results_panel.reliability

    @property
    def results(self) -> dict[str, EvaluationResult]:
        """The evaluated splits' results, in order."""
        return self.results_panel.results

    @property
    def current_split(self) -> str:
        """The split on display."""
        return self.results_panel.current_split

    @property
    def shown_images(self) -> list[ImagePrediction]:
        """The images listed under the confusion matrix."""
        return self.results_panel.shown_images

    @property
    def result(self) -> EvaluationResult | None:
        """The :class:`~tlstudio.evaluation.EvaluationResult` on display, or None."""
        return self.results_panel.result

    @property
    def test_rows(self) -> list[ImagePrediction]:
        """The folder test's predictions."""
        return self.image_test.test_rows

    @property
    def test_class_names(self) -> tuple[str, ...]:
        """The class names of the folder test's model."""
        return self.image_test.test_class_names

    # ------------------------------------------------------------- model source

    def _on_model_path(self, path: str) -> None:
        if not path:
            self.clear_model()
            return
        self.set_model(model_source(path), None)

    def clear_model(self) -> None:
        """No model (a project without runs): nothing of an earlier model stays on the page."""
        if self.runner.is_running():
            self.runner.cancel()
        self.model_path = ""
        self.data = None
        self._stale = False
        self.source_label.setText("No model yet: train one, or open an exported model.")
        self.summary.setText("")
        self.summary.setVisible(False)
        self.results_panel.set_results({})
        self._update_buttons()

    def set_model(self, path: str, data: str | DataConfig | None = None, splits: tuple[str, ...] = ("val", "test")) -> None:
        """Make ``path`` (run folder or exported model) the model to evaluate; results become stale.

        Args:
            path: Run folder or exported model.
            data: Dataset folder (None: the run's own dataset).
            splits: Splits to evaluate.
        """
        self.model_path = str(path)
        self.data = data
        self.splits = tuple(splits)
        self._stale = True
        kind = "run" if is_run(path) else "exported model"
        self.source_label.setText(f"<b>Model</b> ({kind}): {path}")
        if self.results:  # the results on show are another model's: say so, evaluate only when asked
            self.results_panel.set_results({})
        self.summary.setText("Press Evaluate to measure this model on its validation and test images.")
        self.summary.setVisible(True)
        self._update_buttons()

    def choose_exported_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open exported model", str(Path.home()), "Models (*.keras *.tflite saved_model.pb);;All files (*)"
        )
        if not path:
            return
        if path.endswith("saved_model.pb"):
            path = str(Path(path).parent)
        if self.state.dataset_root:
            # The current data settings, so the validation split is the one the app trains with.
            self.open_exported_model(path, self.state.data_config)
            return
        folder = QFileDialog.getExistingDirectory(self, "Labelled dataset to evaluate on", str(Path.home()))
        if folder:
            self.open_exported_model(path, folder, all_images=True)

    def open_exported_model(self, model_path: str, data: str | DataConfig, all_images: bool = False) -> None:
        """Evaluate an exported model on a labelled dataset, without the project.

        Args:
            model_path: Exported ``.keras`` / ``.tflite`` file or SavedModel folder.
            data: Dataset folder or :class:`~tlstudio.config.DataConfig`.
            all_images: Evaluate every image instead of the validation and test splits.
        """
        self.set_model(model_path, data, ("all",) if all_images else ("val", "test"))
        self.evaluate()  # the user asked for this model on this dataset

    # ------------------------------------------------------------- evaluation

    def evaluate(self) -> bool:
        if not self.model_path or self.runner.is_running():
            return False
        self._stale = False
        self.summary.setText("Evaluating…")
        self.summary.setVisible(True)
        self.state.begin_busy("evaluate")
        self.runner.finished.connect(self._end_busy)
        precision = "float32"
        if self.fast_check.isChecked():  # the Train page's choice; float32 there means auto here
            precision = self.state.train_config.precision if self.state.train_config.precision != "float32" else "auto"
        self._fast_asked = precision != "float32"
        self.jobs.evaluate(self.model_path, self.data, self.splits, self._on_evaluated, precision)
        return True

    def _end_busy(self) -> None:
        self.runner.finished.disconnect(self._end_busy)
        self.state.end_busy("evaluate")

    def _on_evaluated(self, results: dict[str, EvaluationResult]) -> None:
        self.summary.setText(summary_html(results, self._fast_asked))
        self.summary.setVisible(True)
        self.results_panel.set_results(results)
        self._update_buttons()

    def show_split(self, split: str) -> None:
        """Show the per-class table and confusion matrix of ``split``."""
        self.results_panel.show_split(split)

    def show_cell(self, true_class: int, pred_class: int) -> None:
        """List the images of true ``true_class`` predicted as ``pred_class``, most confident first."""
        self.results_panel.show_cell(true_class, pred_class)

    def show_mistakes(self, limit: int = 200) -> None:
        """List the split's wrongly classified images, the most confident first."""
        self.results_panel.show_mistakes(limit)

    # ------------------------------------------------------------- image tests

    def model_ref(self) -> ModelRef:
        """The model every job of this page works on (the engine keeps it loaded between jobs)."""
        return self.jobs.model_ref(self.model_path)

    def paste_image(self) -> bool:
        """Test the image on the clipboard (saved to a temporary PNG so it takes the usual read path)."""
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        path = dropped_file(mime)
        if path:
            return self.test_image(path)
        image = clipboard.image()
        if image.isNull():
            self.state.show_status("The clipboard holds no image")
            return False
        target = Path(self._temp_dir.name) / f"clipboard-{os.getpid()}-{id(image)}.png"
        image.save(str(target), "PNG")
        return self.test_image(str(target))

    def test_image(self, path: str) -> bool:
        """Predict one image: preview, top-k bars and (for Keras models) Grad-CAM."""
        if not self.model_path:
            self.state.show_status("Train a model or open an exported one first")
            return False
        if self.runner.is_running():
            self.state.show_status("Wait for the current evaluation to finish")
            return False
        self.tabs.setCurrentIndex(1)
        self.image_test.show_image(path)
        self.jobs.predict(self.model_path, [path], self.gradcam_box.isChecked(), self.image_test.show_single)
        return True

    def test_folder(self, folder: str) -> bool:
        """Predict every image under ``folder`` (recursively) into the folder table."""
        if not self.model_path or self.runner.is_running():
            return False
        paths = folder_images(folder)
        if not paths:
            self.state.show_status(f"No images in {folder}")
            return False
        self.tabs.setCurrentIndex(1)
        self.jobs.predict(self.model_path, paths, False, self._on_folder)
        return True

    def _on_folder(self, out: PredictResult) -> None:
        self.image_test.show_folder(out)
        self._update_buttons()

    def save_csv(self, path: str) -> None:
        """Write the folder-test predictions to ``path``."""
        self.image_test.save_csv(path)

    # ------------------------------------------------------------- plumbing

    def _on_progress(self, event: Progress) -> None:
        self.progress.setToolTip(event.message)
        if not event.total:  # e.g. loading the model: no count yet
            self.progress.setRange(0, 0)
            return
        self.progress.setRange(0, event.total)
        self.progress.setValue(event.done)
        self.progress.setFormat(f"{PROGRESS_VERBS.get(event.stage, event.stage.capitalize())} %v/%m images")

    def _on_error(self, message: str, details: str) -> None:
        self.summary.setText(f"<span style='color:#b00020'>{message}</span>")
        self.summary.setVisible(True)
        self.prediction_label.setText("")
        self.state.report_error(message, details)

    def _on_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
        # an empty matrix says what is happening, not "No results yet" while it is being computed
        evaluating = running and self.runner.job == "evaluate"
        self.matrix.set_empty_text(self.matrix.BUSY_TEXT if evaluating else self.matrix.EMPTY_TEXT)
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.runner.is_running()
        has_model = bool(self.model_path)
        self.evaluate_button.setEnabled(has_model and not running)
        self.open_button.setEnabled(not running)
        for b in (self.pick_button, self.paste_button, self.folder_button):
            b.setEnabled(has_model and not running)
        self.mistakes_button.setEnabled(self.result is not None)
        self.csv_button.setEnabled(bool(self.test_rows) and not running)

    def shutdown(self) -> None:
        """Called by the main window when it closes."""
        self.runner.cancel()
        self.runner.wait()
        self.thumbs.shutdown()
        self.controller.autosave()
        self._temp_dir.cleanup()
