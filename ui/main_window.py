"""The main window: a step navigator over the workflow pages, menus and a status bar.

Data → Model → Train → Evaluate → Inspect → Export. Each page module in
``ui/pages`` is imported when it exists; a missing one shows a friendly
placeholder, and one that fails to import shows why (so one broken page never
takes the whole app down). The status bar always shows the dataset, the
backbone, the run state and whether TensorFlow has finished loading.
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from tlstudio import __version__
from tlstudio.config import DataConfig, ModelConfig, TrainConfig
from ui import settings as app_settings
from ui import worker
from ui.pages import PAGES, class_name
from ui.widgets import sections, turns
from ui.widgets.icons import icon
from ui.widgets.status_bar import ElidedLabel, StatusBar
from ui.state import AppState
from ui.widgets.error_dialog import ErrorDialog, show_error

RUN_STATE_TEXT = {
    "idle": "Idle",
    "running": "Training…",
    "cancelling": "Cancelling…",
    "finished": "Run finished",
    "cancelled": "Run cancelled",
    "failed": "Run failed",
}


def load_page(key: str, state: AppState) -> QWidget:
    """Instantiate ``ui.pages.<key>_page.<Key>Page(state)``.

    A page that cannot be imported or built is a bug: the error propagates
    (the global exception hook shows it), nothing is hidden behind a placeholder.
    """
    module = importlib.import_module(f"ui.pages.{key}_page")
    return getattr(module, class_name(key))(state)


CANCELLING_MESSAGE = "Cancelling… the task stops at its next safe point."

PAGE_BUILD_PAUSE_MS = 40
"""Pause between two pages built in the background after launch."""


class MainWindow(QMainWindow):
    """The tlstudio main window.

    Args:
        state: The shared state; a new one (with the last configs from the
            settings) is created when None.
        restore: Restore geometry, last page and configs from QSettings.

    Signals:
        tensorflow_ready_changed(bool): the background TensorFlow import finished.
        page_built(str, object): page ``key`` was just built (on first visit, lookup, or after show).
    """

    tensorflow_ready_changed = Signal(bool)
    page_built = Signal(str, object)

    def __init__(self, state: AppState | None = None, restore: bool = True):
        super().__init__()
        self.setObjectName("MainWindow")
        self.setWindowTitle("Transfer Learning Studio")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.setMinimumSize(QSize(720, 480))

        if state is None:
            state = AppState()
            if restore:
                _restore_configs(state)
        self.state = state
        self.tensorflow_ready = False
        self._close_when_idle = False
        self._shown_once = False
        self._last_error_dialog: ErrorDialog | None = None

        sheet = QApplication.instance().property("tlstudioWindowStyleSheet")  # see ui.app.configure_application
        if sheet:
            self.setStyleSheet(sheet)
        self._build_pages()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect_state()

        self.resize(1200, 800)
        if restore:
            self._restore_window()
        self._refresh_status()

    # -------------------------------------------------------------- layout

    def _build_pages(self) -> None:
        self.navigator = QListWidget()
        self.navigator.setObjectName("Navigator")
        self.navigator.setIconSize(QSize(22, 22))
        self.navigator.setSpacing(2)
        self.navigator.setToolTip(f"Workflow steps (Ctrl+1 … Ctrl+{len(PAGES)})")
        self.navigator.setAccessibleName("Workflow steps")
        self.stack = QStackedWidget()
        self.stack.setObjectName("PageStack")
        self.pages = _Pages(self._build_page)
        for number, (key, title, description) in enumerate(PAGES, start=1):
            slot = QWidget()  # stands in for the page until it is built
            slot.setProperty("pageKey", key)
            self.stack.addWidget(slot)
            item = QListWidgetItem(icon(f"step_{key}"), title)
            item.setToolTip(f"{title} (Ctrl+{number}): {description}")
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.navigator.addItem(item)
        self.navigator.currentRowChanged.connect(self._on_row_changed)
        self.navigator.setCurrentRow(0)
        self.navigator.setFixedWidth(self.navigator.sizeHintForColumn(0) + 48)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.navigator)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

    def _build_page(self, key: str, page: QWidget | None = None) -> QWidget:
        """Create page ``key`` now (or take ``page``, made a turn before) and put it in the stack (called through ``self.pages``)."""
        index = next(i for i, (k, _t, _d) in enumerate(PAGES) if k == key)
        if page is None:
            page = self._make_page(key)
        slot = self.stack.widget(index)
        current = self.stack.currentIndex()
        self.stack.insertWidget(index, page)
        self.stack.removeWidget(slot)
        slot.deleteLater()
        self.stack.setCurrentIndex(current)
        if key == "evaluate":
            self._wire_resume(page)
        sections.build_later(page)  # its parts follow, one per background turn, styled as the window styles them
        self.page_built.emit(key, page)
        return page

    def _make_page(self, key: str) -> QWidget:
        page = load_page(key, self.state)
        page.setProperty("pageKey", key)
        return page

    def _wire_resume(self, evaluate_page: QWidget) -> None:
        """Let the Runs tab's Resume button continue a run on the Train page."""
        evaluate_page.set_resume_handler(self.resume_run)

    def resume_run(self, run_dir: str) -> bool:
        """Show the Train page and continue the run in ``run_dir`` there."""
        self.show_page("train")
        return bool(self.pages["train"].resume(run_dir=run_dir))

    def _on_row_changed(self, row: int) -> None:
        if 0 <= row < len(PAGES):
            self.pages[PAGES[row][0]]  # build on first visit
            self.stack.setCurrentIndex(row)

    def build_remaining_pages(self) -> None:
        """Build every page not built yet, and their sections (normally done one per event-loop turn after show)."""
        for key, _t, _d in PAGES:
            self.pages[key]
        sections.section_queue().flush()

    def _build_next_page(self) -> None:
        """Build the next page in two steps a pause apart: make it, then put it in the window (restyling a page's
        widgets for the window's style sheet is a third of the work). Each step is one short event-loop turn."""
        wait = turns.wait_ms()
        if wait:  # another builder's step has just ended (a plot, audit cards)
            QTimer.singleShot(wait, self, self._build_next_page)
            return
        for key, _t, _d in PAGES:
            if key not in self.pages:
                with turns.step():
                    if not self.pages.make_pending(key, self._make_page):
                        self.pages[key]  # made a step before: into the stack now
                # a pause, not the next turn: the window paints and answers in between, and a page build never runs
                # in the same pass as other late work (opening a project right after launch)
                QTimer.singleShot(PAGE_BUILD_PAUSE_MS, self, self._build_next_page)  # dropped once the window is deleted
                return

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            QTimer.singleShot(0, self, self._build_next_page)

    def _build_actions(self) -> None:
        self.open_action = QAction(icon("folder"), "&Open folder…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setStatusTip("Open a folder of images, one sub-folder per class")
        self.open_action.triggered.connect(self.choose_folder)

        self.sample_action = QAction(icon("sample"), "Open &sample dataset", self)
        self.sample_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.sample_action.setStatusTip("Open the small bundled sample dataset (generated on first use)")
        self.sample_action.triggered.connect(self.state.request_open_sample)

        self.report_action = QAction("Export &report…", self)
        self.report_action.setStatusTip("Write one self-contained HTML report of a run: data, training, evaluation, exports, model card")
        self.report_action.triggered.connect(self.export_report)

        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)

        self.cancel_action = QAction(icon("cancel"), "&Cancel running work", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.cancel_action.setStatusTip("Stop the running task at its next safe point")
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_work)

        self.page_actions: list[QAction] = []
        for number, (key, title, _description) in enumerate(PAGES, start=1):
            action = QAction(f"&{number} {title}", self)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _=False, k=key: self.show_page(k))
            self.page_actions.append(action)
            self.addAction(action)

        self.about_action = QAction("&About Transfer Learning Studio", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.shortcuts_action = QAction("&Keyboard shortcuts", self)
        self.shortcuts_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.shortcuts_action.triggered.connect(self.show_shortcuts)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.sample_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("RecentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(self.report_action)
        file_menu.addSeparator()
        file_menu.addAction(self.cancel_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = bar.addMenu("&View")
        for action in self.page_actions:
            view_menu.addAction(action)
        view_menu.addSeparator()
        self.navigator_action = QAction("Show step &navigator", self)
        self.navigator_action.setCheckable(True)
        self.navigator_action.setChecked(True)
        self.navigator_action.toggled.connect(self.navigator.setVisible)
        view_menu.addAction(self.navigator_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _build_status_bar(self) -> None:
        bar = StatusBar(self)  # messages shown whole: wrapped, never cut
        self.setStatusBar(bar)
        bar.setObjectName("StatusBar")
        self.dataset_label = ElidedLabel(max_width=420)
        self.dataset_label.setObjectName("StatusDataset")
        self.dataset_label.setToolTip("Current dataset: folder, usable images and classes")
        self.backbone_label = ElidedLabel(max_width=220)
        self.backbone_label.setObjectName("StatusBackbone")
        self.backbone_label.setToolTip("Backbone and weights of the model to train")
        self.run_label = ElidedLabel(max_width=200, mode=Qt.TextElideMode.ElideRight)
        self.run_label.setObjectName("StatusRun")
        self.run_label.setToolTip("State of the training run")
        self.tf_label = ElidedLabel("Engine starting…", max_width=340, mode=Qt.TextElideMode.ElideRight)
        self.tf_label.setObjectName("StatusTensorFlow")
        self.tf_label.setProperty("ready", False)
        self.tf_label.setToolTip(
            "The engine process loads TensorFlow in the background; every model job runs there, never in this window's process"
        )
        for widget in (self.dataset_label, self.backbone_label, self.run_label, self.tf_label):
            bar.addPermanentWidget(widget)
        bar.optional = [self.dataset_label, self.backbone_label]  # the pages show these too: a long message takes their room

    def _connect_state(self) -> None:
        s = self.state
        # bound methods, not lambdas: Qt drops a bound slot when this window is deleted, while a
        # lambda stays connected to the longer-lived state and reaches a deleted window
        for signal in (s.data_changed, s.model_config_changed, s.run_state_changed, s.busy_changed):
            signal.connect(self._on_state_changed)
        s.data_config_changed.connect(self._on_data_config_changed)
        s.error_reported.connect(self.show_error)
        s.status_message.connect(self._show_status_message)
        s.page_requested.connect(self.show_page)
        s.open_folder_requested.connect(self._show_data_page)
        s.open_sample_requested.connect(self._show_data_page)
        # any task on any runner enables Esc
        self._poll = QTimer(self)
        self._poll.setInterval(250)
        self._poll.timeout.connect(self._update_cancel_action)
        self._poll.start()

    def _on_state_changed(self, *_args) -> None:
        self._refresh_status()
        QTimer.singleShot(0, self, self._clear_cancelling_message)

    def _show_status_message(self, text: str, ms: int) -> None:
        self.statusBar().showMessage(text, ms)

    def _show_data_page(self, *_args) -> None:
        self.show_page("data")

    # ------------------------------------------------------------- actions

    def show_page(self, key: str) -> None:
        """Show page ``key`` (``"data"``, ``"model"``, …)."""
        for row in range(self.navigator.count()):
            if self.navigator.item(row).data(Qt.ItemDataRole.UserRole) == key:
                self.navigator.setCurrentRow(row)
                return

    def current_page_key(self) -> str:
        item = self.navigator.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def choose_folder(self) -> None:
        """Ask for a dataset folder and open it."""
        start = self.state.dataset_root or (app_settings.recent_folders() or [str(Path.home())])[0]
        folder = QFileDialog.getExistingDirectory(self, "Open a dataset folder (one sub-folder per class)", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path) -> None:
        """Open a dataset folder (remembered in the recent list)."""
        folder = str(folder)
        app_settings.add_recent_folder(folder)
        self.state.request_open_folder(folder)

    def cancel_work(self) -> None:
        """Ask every running task to stop (Esc)."""
        if worker.active_runners(include_background=False):
            self.state.mark_cancelling()
            worker.cancel_all()
            self.statusBar().showMessage(CANCELLING_MESSAGE, 4000)

    def _clear_cancelling_message(self) -> None:
        """Drop "Cancelling…" from the status bar once nothing is left to stop."""
        if self.statusBar().currentMessage() == CANCELLING_MESSAGE and not worker.active_runners(include_background=False):
            self.statusBar().clearMessage()

    def show_error(self, message: str, details: str = "") -> ErrorDialog:
        """Show an error with a Details expander (non-blocking)."""
        self._last_error_dialog = show_error(self, message, details)
        return self._last_error_dialog

    @property
    def last_error_dialog(self) -> ErrorDialog | None:
        return self._last_error_dialog

    def export_report(self) -> None:
        """File ▸ Export report…: the model card, then one self-contained HTML report of a run."""
        from ui.panels.report_dialog import ReportDialog

        dialog = ReportDialog(self.state, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.report_dialog = dialog

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Transfer Learning Studio",
            f"<h3>Transfer Learning Studio {__version__}</h3>"
            "<p>Fine-tune pretrained VGG and ResNet image classifiers with Keras: "
            "choose data, freeze layers, train with live plots, inspect and export.</p>"
            "<p>Licensed under the Apache License 2.0.</p>",
        )

    def show_shortcuts(self) -> None:
        rows = [("Ctrl+O", "Open a dataset folder"), ("Ctrl+Shift+O", "Open the sample dataset")]
        rows += [(f"Ctrl+{n}", f"Go to {title}") for n, (_k, title, _d) in enumerate(PAGES, start=1)]
        rows += [("F5", "Start training (Train page)"), ("Esc", "Cancel running work"), ("Ctrl+Q", "Quit")]
        project = getattr(self, "project_actions", None)
        for name in ("new_action", "open_action", "save_action", "save_as_action"):
            action = getattr(project, name, None)
            if action is not None and not action.shortcut().isEmpty():
                text = action.text().replace("&", "").rstrip("…")
                rows.append((action.shortcut().toString(QKeySequence.SequenceFormat.NativeText), text))
        rows += [
            ("Ctrl+V", "Test the image on the clipboard (Evaluate page)"),
            ("Arrows, Enter", "Show a confusion-matrix cell's images (Evaluate page)"),
        ]
        self.shortcut_rows = rows
        """The rows of the last shortcut list shown: ``(keys, what they do)``."""
        html = "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", html, QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.open()

    def watch_engine(self, client) -> None:
        """Show the engine's state and device in the status bar (:class:`ui.engine.EngineClient`)."""
        client.state_changed.connect(self._on_engine_state)
        client.crashed.connect(self._on_engine_crashed)
        if client.state != "stopped":
            self._on_engine_state(client.state, client.message)

    def _on_engine_crashed(self, message: str) -> None:
        self.statusBar().showMessage(message, 15_000)

    def _on_engine_state(self, state: str, message: str) -> None:
        from ui import engine as engine_module

        client = engine_module.engine()
        if state == engine_module.READY and client.device is not None:
            device = client.device
            self.tf_label.setText(device.summary())
            details = [message, f"TensorFlow {device.tensorflow}, Keras {device.keras}"]
            if device.precision:
                details.append(f"Precision 'auto' computes in {device.precision} here: {device.precision_reason}")
            if device.kind == "GPU":
                details.append("GPU memory growth on" if device.memory_growth else "GPU memory limited")
            if device.setup_error:
                details.append(f"Device set-up: {device.setup_error}")
            self.set_tensorflow_ready(True, "\n".join(details))
        elif state == engine_module.FAILED:
            self.set_tensorflow_ready(False, message)
        elif state == engine_module.RESTARTING:
            self.tf_label.setText("Engine restarting…")
            self.tf_label.setToolTip(message)
        elif state == engine_module.STARTING:
            self.tf_label.setText("Engine starting…")

    def set_tensorflow_ready(self, ready: bool, message: str = "") -> None:
        """Flip the status-bar indicator once the engine process is ready (or failed)."""
        self.tensorflow_ready = ready
        if ready:
            if self.tf_label.text() in ("Engine starting…", "Engine restarting…"):
                self.tf_label.setText("Engine ready")
            self.tf_label.setToolTip(message or "The engine process has loaded TensorFlow")
        else:
            self.tf_label.setText("Engine unavailable")
            self.tf_label.setToolTip(message or "The engine process could not start")
        self.tf_label.setProperty("ready", ready)
        self.tf_label.style().unpolish(self.tf_label)
        self.tf_label.style().polish(self.tf_label)
        self.tensorflow_ready_changed.emit(ready)

    # -------------------------------------------------------------- status

    def _on_data_config_changed(self, config: DataConfig) -> None:
        self._refresh_status()

    def _refresh_status(self) -> None:
        s = self.state
        if s.dataset_root:
            classes = len(s.class_names)
            images = s.num_images
            if s.prepared_data is not None:
                self.dataset_label.setText(f"Data: {s.dataset_name} · {images} images · {classes} classes")
            else:
                self.dataset_label.setText(f"Data: {s.dataset_name} (not loaded)")
            self.dataset_label.setToolTip(s.dataset_root)
        else:
            self.dataset_label.setText("Data: none")
        m = s.model_config
        weights = m.weights if not m.weights.startswith("file:") else "file"
        self.backbone_label.setText(f"Model: {m.backbone} ({weights})")
        text = RUN_STATE_TEXT.get(s.run_state, s.run_state)
        if s.busy and not s.is_running:
            text = f"{text} · working…"
        self.run_label.setText(text)
        self.run_label.setProperty("runState", s.run_state)
        self.run_label.style().unpolish(self.run_label)
        self.run_label.style().polish(self.run_label)

    def _update_cancel_action(self) -> None:
        self.cancel_action.setEnabled(bool(worker.active_runners(include_background=False)))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = app_settings.recent_folders()
        for n, folder in enumerate(folders, start=1):
            action = self.recent_menu.addAction(f"&{n} {folder}")
            action.setData(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
        if not folders:
            empty = self.recent_menu.addAction("(no recent folders)")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear list")
            clear.triggered.connect(app_settings.clear_recent_folders)

    # ------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if _dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        folder = _dropped_folder(event.mimeData())
        if folder is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_folder(folder)

    # ------------------------------------------------------------- closing

    def running_work_text(self) -> str:
        """The quit question about running work, naming only what is running."""
        running = worker.active_runners(include_background=False)
        names = running_work_names(running)
        what = _join(names) or "A task"
        verb = "is" if len(names) <= 1 else "are"
        text = f"{what[:1].upper()}{what[1:]} {verb} still running.\n\nStop {'it' if len(names) <= 1 else 'them'} and quit?"
        if any(getattr(r, "job", "") == "train" for r in running):
            text += " The cancelled training run keeps its last checkpoint and can be resumed."
        return text

    def confirm_close_during_run(self) -> bool:
        """Ask whether to stop the running work and quit (True = yes)."""
        answer = QMessageBox.question(
            self,
            "Stop and quit?",
            self.running_work_text(),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        running = worker.active_runners(include_background=False)
        if running:
            if not self._close_when_idle and not self.confirm_close_during_run():
                event.ignore()
                return
            # Cancel, then close again once every worker has finished by itself.
            self._close_when_idle = True
            self.state.mark_cancelling()
            worker.cancel_all()
            self.statusBar().showMessage("Stopping the running work before quitting…")
            for runner in running:
                runner.finished.connect(self._close_if_idle)
            event.ignore()
            return
        self._close_when_idle = False
        project = getattr(self, "project_actions", None)
        if project is not None and not project.confirm_close():  # save the project? (runs it would lose are listed)
            event.ignore()
            return
        self._save_settings()
        self._poll.stop()
        self.pages.finish_pending()
        for page in self.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # noqa: BLE001 - closing must not fail on one page
                    traceback.print_exc()
        super().closeEvent(event)

    def _close_if_idle(self) -> None:
        if self._close_when_idle and not worker.active_runners(include_background=False):
            QTimer.singleShot(0, self.close)

    def _save_settings(self) -> None:
        store = app_settings.settings()
        app_settings.save_window(self.saveGeometry(), self.saveState(), self.navigator.currentRow(), store)
        app_settings.save_config(self.state.data_config, store)
        app_settings.save_config(self.state.model_config, store)
        app_settings.save_config(self.state.train_config, store)
        store.sync()

    def _restore_window(self) -> None:
        geometry = app_settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = app_settings.window_state()
        if state is not None:
            self.restoreState(state)
        page = app_settings.last_page()
        if 0 <= page < self.navigator.count():
            self.navigator.setCurrentRow(page)


JOB_DESCRIPTIONS = {
    "train": "a training run",
    "prepare_data": "a dataset scan",
    "describe_backbone": "a model build",
    "evaluate": "an evaluation",
    "predict": "a prediction",
    "export": "an export",
    "inspect_table": "a model inspection",
    "filters": "a filter visualisation",
    "activations": "an activation visualisation",
    "gradcam": "a Grad-CAM computation",
    "cross_check": "a formula cross-check",
}
"""What the quit question calls each engine job."""


def running_work_names(runners) -> list[str]:
    """One description per running task (engine jobs by name, others as "a task"), without repeats."""
    names: list[str] = []
    for runner in runners:
        job = getattr(runner, "job", "")
        name = JOB_DESCRIPTIONS.get(job, f"a {job.replace('_', ' ')} job" if job else "a task")
        if name not in names:
            names.append(name)
    return names


def _join(items: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}" if items else ""


class _Pages(dict):
    """``{key: page}`` that builds a page the first time it is looked up.

    Only the current page is built before the window shows; the others follow
    one per event-loop turn right after, or at once when someone asks for
    ``window.pages[key]``. ``values()``/``items()`` list the built ones.
    """

    def __init__(self, build):
        super().__init__()
        self._build = build
        self._pending: dict[str, QWidget] = {}
        """Pages made but not yet in the window (the background build's first step)."""

    def __missing__(self, key: str) -> QWidget:
        if key not in {k for k, _t, _d in PAGES}:
            raise KeyError(key)
        page = self._build(key, self._pending.pop(key, None))
        self[key] = page
        return page

    def make_pending(self, key: str, make) -> bool:
        """Make page ``key`` with ``make(key)`` and keep it for its second step; False when it was made already."""
        if key in self._pending:
            return False
        self._pending[key] = make(key)
        return True

    def finish_pending(self) -> None:
        """Put every page made but not yet placed in the window now."""
        for key in list(self._pending):
            self[key]


def _restore_configs(state: AppState) -> None:
    data = app_settings.load_config(DataConfig)
    if data is not None:
        # The folder is reopened explicitly (recent list); keep only the settings.
        state.set_data_config(DataConfig(**{**data.__dict__, "root": ""}))
    model = app_settings.load_config(ModelConfig)
    if model is not None:
        state.set_model_config(model)
    train = app_settings.load_config(TrainConfig)
    if train is not None:
        state.set_train_config(train)


def _dropped_folder(mime) -> str | None:
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                return str(path)
    return None
