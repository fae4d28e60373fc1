"""The form binder: config -> widgets without echo, widgets -> config with readable refusals."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox

from tlstudio.config import AugmentConfig, DataConfig, ModelConfig, TrainConfig
from tlstudio.errors import ConfigError
from ui.forms import FormBinder, replace_paths


def _spin(lo: int = 0, hi: int = 1000) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    return spin


def _dspin(lo: float = 0.0, hi: float = 100.0, decimals: int = 6) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(lo, hi)
    return spin


class _Recorder:
    def __init__(self, form: FormBinder):
        self.edited: list[object] = []
        self.invalid: list[str] = []
        form.edited.connect(self.edited.append)
        form.invalid.connect(self.invalid.append)


@pytest.fixture
def train_form(qtbot):
    epochs, lr, early = _spin(0, 500), _dspin(0.0, 1.0), QCheckBox("early")
    optimizer = QComboBox()
    for key in ("adam", "sgd", "adamw"):
        optimizer.addItem(key.upper(), key)
    monitor = QComboBox()
    monitor.addItems(["val_accuracy", "val_loss"])  # no item data: the text is the value
    form = FormBinder(TrainConfig())
    form.bind("epochs", epochs)
    form.bind("learning_rate", lr)
    form.bind("early_stopping", early)
    form.bind("optimizer", optimizer)
    form.bind("monitor", monitor)
    return form, epochs, lr, early, optimizer, monitor


def test_set_config_writes_every_widget_without_an_edit(train_form):
    form, epochs, lr, early, optimizer, monitor = train_form
    seen = _Recorder(form)
    config = TrainConfig(epochs=7, learning_rate=0.01, early_stopping=True, optimizer="sgd", monitor="val_loss")
    form.set_config(config)
    assert (epochs.value(), lr.value(), early.isChecked(), optimizer.currentData(), monitor.currentText()) == (
        7, 0.01, True, "sgd", "val_loss"
    )
    assert form.config == config
    assert seen.edited == [] and seen.invalid == []


def test_each_widget_edit_gives_a_replaced_config(train_form):
    form, epochs, lr, early, optimizer, monitor = train_form
    form.set_config(TrainConfig())
    seen = _Recorder(form)
    epochs.setValue(12)
    optimizer.setCurrentIndex(optimizer.findData("adamw"))
    early.setChecked(True)
    lr.setValue(0.005)
    monitor.setCurrentText("val_loss")
    assert seen.edited[-1] == dataclasses.replace(
        TrainConfig(), epochs=12, optimizer="adamw", early_stopping=True, learning_rate=0.005, monitor="val_loss"
    )
    assert len(seen.edited) == 5 and form.config == seen.edited[-1]


def test_a_refused_edit_says_why_and_keeps_the_last_valid_config(train_form):
    form, epochs, lr, *_ = train_form
    form.set_config(TrainConfig(epochs=3, fine_tune_epochs=0))
    seen = _Recorder(form)
    epochs.setValue(0)  # 0 + 0 epochs: TrainConfig refuses it
    assert seen.edited == []
    assert len(seen.invalid) == 1 and "at least one epoch" in seen.invalid[0] and "Received:" in seen.invalid[0]
    assert form.config.epochs == 3
    epochs.setValue(3)  # back to the last valid config: said once, so the page can clear its message
    assert seen.edited == [TrainConfig(epochs=3, fine_tune_epochs=0)]
    epochs.setValue(2)
    assert seen.edited[-1].epochs == 2 and len(seen.edited) == 2


def test_the_echo_of_an_edit_is_not_written_back(train_form, qtbot):
    form, epochs, *_ = train_form
    form.set_config(TrainConfig())
    writes: list[int] = []
    epochs.valueChanged.connect(writes.append)
    echoes: list[object] = []
    form.edited.connect(lambda config: (echoes.append(config), form.set_config(config)))  # what a page does via the state
    epochs.setValue(9)
    assert writes == [9] and len(echoes) == 1
    form.set_config(form.config, force=True)  # forced: written again, still no edit
    assert len(echoes) == 1


def test_writing_guard_keeps_page_changes_from_being_edits(train_form):
    form, epochs, *_ = train_form
    form.set_config(TrainConfig())
    seen = _Recorder(form)
    with form.writing():
        with form.writing():  # re-entrant
            epochs.setValue(40)
        epochs.setValue(41)
        assert form.is_writing
    assert not form.is_writing and seen.edited == []
    epochs.setValue(42)
    assert seen.edited[-1].epochs == 42


def test_a_value_the_widget_cannot_show_is_reported(train_form):
    form, epochs, _lr, _early, _optimizer, monitor = train_form
    seen = _Recorder(form)
    form.set_config(TrainConfig(epochs=4, monitor="loss"))  # valid, but not one of this combo's choices
    assert epochs.value() == 4  # the other fields are still written
    assert len(seen.invalid) == 1
    assert "monitor" in seen.invalid[0] and "Received: 'loss'" in seen.invalid[0]


def test_percentages_nested_fields_and_toggles(qtbot):
    val, test, seed = _dspin(0, 90, 0), _dspin(0, 90, 0), _spin(0, 10**6)
    flip = QComboBox()
    for key in ("none", "horizontal", "vertical", "horizontal_and_vertical"):
        flip.addItem(key.title(), key)
    rot_check, rot_spin = QCheckBox("Rotation"), _dspin(0, 100, 0)
    rot_spin.setValue(10)
    form = FormBinder(DataConfig(root="/data"))
    form.bind("val_fraction", val, scale=100)
    form.bind("test_fraction", test, scale=100)
    form.bind("seed", seed)
    form.bind("augment.flip", flip)
    form.bind_toggle("augment.rotation", rot_check, rot_spin, scale=100, off=0.0)
    form.set_config(DataConfig(root="/data", val_fraction=0.25, augment=AugmentConfig(rotation=0.3)))
    assert (val.value(), test.value(), rot_check.isChecked(), rot_spin.value(), rot_spin.isEnabled()) == (25, 0, True, 30, True)
    seen = _Recorder(form)

    test.setValue(10)
    flip.setCurrentIndex(flip.findData("horizontal"))
    assert seen.edited[-1] == DataConfig(
        root="/data", val_fraction=0.25, test_fraction=0.1, augment=AugmentConfig(flip="horizontal", rotation=0.3)
    )
    rot_check.setChecked(False)
    assert seen.edited[-1].augment.rotation == 0.0 and not rot_spin.isEnabled()
    rot_check.setChecked(True)  # the last amount comes back
    assert seen.edited[-1].augment.rotation == 0.3
    form.set_config(dataclasses.replace(form.config, augment=AugmentConfig(rotation=0.0)))
    assert not rot_check.isChecked() and rot_spin.value() == 30

    val.setValue(90)  # 90 % + 10 %: DataConfig refuses it
    assert "val_fraction + test_fraction" in seen.invalid[-1] and "Received: 0.9 + 0.1" in seen.invalid[-1]
    assert form.config.val_fraction == 0.25


def test_a_page_rule_refuses_with_its_own_message(qtbot):
    def leave_enough(config: DataConfig) -> None:
        if config.val_fraction + config.test_fraction >= 0.95:
            raise ConfigError(f"Validation + test leaves too little to train on. Received: {config.val_fraction + config.test_fraction:.0%}")

    val = _dspin(0, 99, 0)
    form = FormBinder(DataConfig(), check=leave_enough)
    form.bind("val_fraction", val, scale=100)
    form.set_config(DataConfig(test_fraction=0.5))
    seen = _Recorder(form)
    val.setValue(46)
    assert seen.invalid == ["Validation + test leaves too little to train on. Received: 96%"]
    val.setValue(40)
    assert seen.edited[-1].val_fraction == 0.4


def test_line_edit_is_read_when_editing_finishes(qtbot):
    line = QLineEdit()
    form = FormBinder(DataConfig())
    form.bind("root", line)
    form.set_config(DataConfig(root="/a"))
    assert line.text() == "/a"
    seen = _Recorder(form)
    line.setText("/b")
    assert seen.edited == []  # typing is not an edit yet
    line.editingFinished.emit()
    assert seen.edited[-1].root == "/b"


def test_custom_binding_reads_and_writes_through_functions(qtbot):
    backbone = QComboBox()
    backbone.addItem("VGG16", "vgg16")
    backbone.addItem("ResNet50", "resnet50")
    weights, path = QComboBox(), QLineEdit()
    weights.addItem("None", "none")
    weights.addItem("File", "file")

    def read() -> str:
        if weights.currentData() != "file":
            return weights.currentData()
        if not path.text():
            raise ConfigError("Choose a weights file. Received: an empty path")
        return f"file:{path.text()}"

    def write(value: str) -> None:
        weights.setCurrentIndex(weights.findData("file" if value.startswith("file:") else value))
        path.setText(value[5:] if value.startswith("file:") else "")

    form = FormBinder(ModelConfig())
    form.bind("backbone", backbone)
    form.bind_custom("weights", read=read, write=write, signals=[weights.currentIndexChanged, path.editingFinished])
    form.set_config(ModelConfig(backbone="resnet50", weights="file:/w.h5"))
    assert (backbone.currentData(), weights.currentData(), path.text()) == ("resnet50", "file", "/w.h5")
    seen = _Recorder(form)
    path.setText("")
    path.editingFinished.emit()
    assert seen.invalid == ["Choose a weights file. Received: an empty path"]
    weights.setCurrentIndex(weights.findData("none"))
    assert seen.edited[-1] == ModelConfig(backbone="resnet50", weights="none")


def test_replace_paths_validates_each_dataclass_once():
    # (0.1, 0.8) -> (0.8, 0.1): one field at a time would pass through the refused (0.8, 0.8)
    config = replace_paths(DataConfig(val_fraction=0.1, test_fraction=0.8), [("val_fraction", 0.8), ("test_fraction", 0.1)])
    assert (config.val_fraction, config.test_fraction) == (0.8, 0.1)
    nested = replace_paths(DataConfig(), [("augment.zoom", 0.2), ("augment.flip", "vertical"), ("seed", 5)])
    assert nested == DataConfig(seed=5, augment=AugmentConfig(flip="vertical", zoom=0.2))


def test_binding_mistakes_are_caught_when_binding(qtbot):
    form = FormBinder(TrainConfig())
    with pytest.raises(TypeError, match="Received: QLabel"):
        form.bind("epochs", QLabel())
    with pytest.raises(AttributeError):
        form.bind("epoch", _spin())
    with pytest.raises(TypeError, match="Received: <class"):
        FormBinder(TrainConfig)


def test_bind_gives_the_options_tooltip_and_range_and_field_label_its_label(qtbot):
    from tlstudio.options import option_of
    from ui.forms import field_label

    batch, patience, momentum = _spin(-5, 4096), _spin(0, 100), _dspin(-1.0, 5.0)
    patience.setToolTip("the page's own words")
    form = FormBinder(TrainConfig())
    form.bind("batch_size", batch)
    form.bind("patience", patience)
    form.bind("momentum", momentum)
    assert batch.toolTip() == option_of(TrainConfig, "batch_size").tooltip and batch.toolTip()
    assert patience.toolTip() == "the page's own words"  # a widget's own tooltip is kept
    assert (batch.minimum(), batch.maximum()) == (0, 4096)  # within the option's range: batch_size >= 0 (0: auto)
    assert (momentum.minimum(), momentum.maximum()) == (0.0, 5.0)  # [0, 1): the open end is the config's to refuse
    assert field_label(TrainConfig(), "batch_size") == "Batch size:"
    assert field_label(DataConfig, "augment.zoom") == "Zoom:"
