"""The Model, Data and Train forms name, explain and fill every setting from its one description (tlstudio.options).

A page that wrote a row's label, a tooltip or a combo's choices again would
drift from the CLI's help and the config's validation; these tests fail when
a form row or a bound widget says something its field's option does not.
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QWidget

from tlstudio.config import DataConfig, ModelConfig, TrainConfig
from tlstudio.errors import TlStudioError
from ui.forms import FormBinder, option_for
from ui.state import AppState


def _rows(root: QWidget) -> dict[QWidget, tuple[QFormLayout, QWidget | None]]:
    """Every widget in a form row under ``root``: its form and the row's label widget (None for a spanning row)."""
    rows: dict[QWidget, tuple[QFormLayout, QWidget | None]] = {}
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole) or form.itemAt(row, QFormLayout.ItemRole.SpanningRole)
            if field is not None and field.widget() is not None:
                rows[field.widget()] = (form, label.widget() if label is not None else None)
            if label is not None and label.widget() is not None:
                rows.setdefault(label.widget(), (form, None))
    return rows


def _row_of(widget: QWidget, rows) -> tuple[QWidget, QWidget | None]:
    """(the form row's field widget holding ``widget``, that row's label widget)."""
    holder = widget
    while holder is not None and holder not in rows:
        holder = holder.parentWidget()
    assert holder is not None, f"{widget.objectName() or type(widget).__name__} is in no form row"
    return holder, rows[holder][1]


def _check_form(root: QWidget, binder: FormBinder, config_cls: type, skip: tuple[str, ...] = ()) -> set[str]:
    """Hold every binding of ``binder`` to its option; return the row labels the options explain."""
    rows = _rows(root)
    holders: dict[QWidget, list[str]] = {}
    for binding in binder.bindings:
        if binding.path in skip:
            continue
        holder, _ = _row_of(binding.widgets[0], rows)
        holders.setdefault(holder, []).append(binding.path)
    explained = set()
    for binding in binder.bindings:
        opt = option_for(config_cls, binding.path)
        assert opt is not None, f"{binding.path} is bound but has no option"
        if binding.path in skip:
            continue
        assert binding.widgets, f"{binding.path}: its binding names no widget"
        widget = binding.widgets[0]
        holder, label = _row_of(widget, rows)
        shared = len(holders[holder]) > 1 and holders[holder][0] != binding.path  # a second field in another's row
        names_itself = widget in rows and rows[widget][1] is None  # a spanning row, or the box is the row's label
        if isinstance(widget, QCheckBox) and (names_itself or shared):
            assert widget.text() == opt.label, (binding.path, widget.text(), opt.label)  # the box names its field
        elif shared:
            assert widget.toolTip() == opt.tooltip, binding.path  # beside its partner, explained by its tooltip
        else:
            assert isinstance(label, QLabel), (binding.path, label)
            assert label.text() == f"{opt.label}:", (binding.path, label.text(), opt.label)
            explained.add(label.text())
        assert widget.toolTip() == opt.tooltip, (binding.path, widget.toolTip(), opt.tooltip)
        if isinstance(widget, QComboBox) and opt.choices is not None:
            assert tuple(widget.itemData(i) for i in range(widget.count())) == opt.choices, binding.path
    return explained


def _labels(root: QWidget) -> set[str]:
    """The texts of the form row labels under ``root`` that end with a colon."""
    return {label.text() for label in (v[1] for v in _rows(root).values())
            if isinstance(label, QLabel) and label.text().endswith(":")}


def test_the_model_page_names_every_field_from_its_option(qtbot, fake_engine):
    from ui.pages.model_page import ModelPage

    fake_engine.register("describe_backbone", TlStudioError("the layer list is not part of this test"))
    page = ModelPage(AppState())
    qtbot.addWidget(page)
    page.resize(1024, 680)
    page.head.dense_count.setValue(1)
    explained = _check_form(page.left_scroll.widget(), page.form, ModelConfig, skip=("freeze",))
    assert explained >= {"Network:", "Weights:", "Input size:", "Cut at:", "Pooling:", "Hidden layers:", "Final dropout:"}
    assert _labels(page.left_scroll.widget()) == explained  # no row label written on the page
    freeze = option_for(ModelConfig, "freeze")
    assert page.right_tabs.tabText(0) == freeze.label and [b.widgets for b in page.form.bindings if b.path == "freeze"] == [(page.tree,)]
    row = page.dense_rows[0]
    for widget, name in ((row.units, "units"), (row.activation, "activation"), (row.dropout, "dropout")):
        assert widget.toolTip() == _dense(name).tooltip, name
    assert tuple(row.activation.itemData(i) for i in range(row.activation.count())) == _dense("activation").choices
    page.shutdown()


def _dense(name: str):
    from tlstudio.config import DenseSpec
    from tlstudio.options import option_of

    return option_of(DenseSpec, name)


def test_the_data_page_names_every_field_from_its_option(qtbot, fake_engine):
    from ui.pages.data_page import DataPage

    page = DataPage(AppState())
    qtbot.addWidget(page)
    page.resize(1024, 680)
    explained = _check_form(page, page.form, DataConfig)
    assert explained >= {"Validation:", "Test:", "Seed:", "Flip:"}
    assert _labels(page.split_panel) | _labels(page.augment) == explained
    assert [page.augment.aug_checks[k].text() for k in ("rotation", "zoom", "contrast", "translation")] == [
        option_for(DataConfig, f"augment.{k}").label for k in ("rotation", "zoom", "contrast", "translation")]
    page.shutdown()


def test_the_train_settings_name_every_field_from_its_option(qtbot):
    from ui.panels.train_settings import TrainSettings

    settings = TrainSettings(AppState())
    qtbot.addWidget(settings)
    binder = settings.bind()
    explained = _check_form(settings, binder, TrainConfig)
    assert _labels(settings) == explained
    assert {b.path for b in binder.bindings} >= {"epochs", "batch_size", "optimizer", "auto_head", "deterministic"}


@pytest.mark.parametrize("config_cls", [DataConfig, ModelConfig, TrainConfig])
def test_a_label_written_on_a_page_would_be_caught(qtbot, config_cls):
    """The check itself: a form row whose label is not its field's fails."""
    from PySide6.QtWidgets import QSpinBox

    name = {DataConfig: "seed", ModelConfig: "image_size", TrainConfig: "epochs"}[config_cls]
    root = QWidget()
    qtbot.addWidget(root)
    form = QFormLayout(root)
    spin = QSpinBox()
    form.addRow("Some words:", spin)
    binder = FormBinder(config_cls(), parent=root)
    binder.bind(name, spin)
    with pytest.raises(AssertionError):
        _check_form(root, binder, config_cls)
