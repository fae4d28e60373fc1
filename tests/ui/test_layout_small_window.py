"""Issue 24, item 12: at 1024×680 nothing is cut: status messages, status fields, the head sweep, audit cards, the Runs table.

Each test lays a window out at the smallest size the pages are made for and
checks geometry with the real font: every widget asked about lies inside its
parent's visible area, and its text fits (``QFontMetrics``).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt

SMALL = (1024, 680)


def text_fits(label) -> bool:
    """True when ``label``'s whole text is drawn: one line that fits, or word-wrapped lines that fit its height."""
    metrics = label.fontMetrics()
    text = label.text()
    inner = label.contentsRect().width() - 2 * label.margin() - 2 * label.indent() if label.indent() > 0 else label.contentsRect().width() - 2 * label.margin()
    if not label.wordWrap():
        return metrics.horizontalAdvance(text) <= inner
    needed = metrics.boundingRect(QRect(0, 0, inner, 100_000), int(Qt.TextFlag.TextWordWrap), text).height()
    return needed <= label.contentsRect().height() + 1


def inside_window(widget) -> bool:
    """True when ``widget``'s rectangle lies inside its window's."""
    top_left = widget.mapTo(widget.window(), QPoint(0, 0))
    return widget.window().rect().contains(QRect(top_left, widget.size()))


@pytest.fixture
def small_window(qtbot, isolated_settings):
    from ui.main_window import MainWindow

    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.resize(*SMALL)
    win.show()
    qtbot.waitExposed(win)
    return win


LONG_MESSAGE = ("The engine stopped during training: the run in /tmp/runs/2026-12-06_23-40_vgg16 can be resumed from "
                "epoch 3 (Resume), and the job it was running has been cancelled.")


def test_a_long_status_message_is_shown_whole_at_1024_px(small_window, qtbot):
    """The status bar cut a message at 1024 px: "…the job it was runn"."""
    win = small_window
    win.state.update_model_config(backbone="resnet50")
    bar = win.statusBar()
    bar.showMessage(LONG_MESSAGE, 10_000)
    label = bar.message_label
    qtbot.waitUntil(lambda: inside_window(label) and label.height() >= label.minimumHeight(), timeout=2_000)  # the bar grew
    assert bar.currentMessage() == LONG_MESSAGE
    where = (label.mapTo(win, QPoint(0, 0)), label.size(), win.size())
    assert label.isVisible() and inside_window(label), where
    assert text_fits(label), where
    assert not win.dataset_label.isVisible()  # the long message took the optional fields' room
    assert win.tf_label.isVisible() and win.run_label.isVisible()
    bar.clearMessage()
    qtbot.wait(50)
    assert win.dataset_label.isVisible() and win.backbone_label.isVisible()
    bar.showMessage("Saved.", 1000)
    qtbot.wait(50)
    assert win.dataset_label.isVisible() and text_fits(bar.message_label)  # a short one leaves the fields alone


def test_status_fields_elide_long_values_and_keep_them_in_the_tooltip(small_window, qtbot):
    win = small_window
    win.state.update_data_config(root="/tmp/a-very-long-dataset-folder-name-from-a-camera-export-2026-12-06")
    qtbot.waitUntil(lambda: "camera-export" in win.dataset_label.text(), timeout=2_000)
    win.build_remaining_pages()  # the pages are built in the background after show; the Model page's weights notice
    win.statusBar().clearMessage()  # is a long temporary message that takes the optional fields' room (test above)
    fields = (win.dataset_label, win.backbone_label, win.run_label, win.tf_label)
    # the status bar lays its fields out again in a later turn; under load that turn can come after 50 ms
    qtbot.waitUntil(lambda: all(inside_window(f) for f in fields), timeout=3_000)
    for field in fields:
        assert field.fontMetrics().horizontalAdvance(field.shown_text()) <= field.width()
    assert "…" in win.dataset_label.shown_text()
    assert "a-very-long-dataset-folder-name-from-a-camera-export-2026-12-06" in win.dataset_label.toolTip()


def _shown_audit_cards(win, root, qtbot):
    """The Data page's Audit tab showing an audit of ``root``, once every card is built; its visible cards."""
    from tests.support.audit_result import audit_result

    page = win.pages["data"]
    page.tabs.setCurrentWidget(page.audit_view)
    view = page.audit_view
    view.show_result(audit_result(root))
    qtbot.waitUntil(lambda: not view.builder.busy())
    qtbot.wait(100)
    return view, [c for c in view.cards() if c.isVisible() and c.kind != "duplicate"]


@pytest.fixture
def styled(qapp):
    """The app's own style and style sheet: the sizes a user sees (the app sets the sheet on its main window; here on
    the application, so that a window made before this fixture has it too)."""
    from ui.widgets.icons import style_sheet

    saved = (qapp.styleSheet(), qapp.style().name())
    qapp.setStyle("Fusion")
    qapp.setStyleSheet(style_sheet("light"))
    yield
    qapp.setStyleSheet(saved[0])
    qapp.setStyle(saved[1])


def _trials(n: int):
    from tlstudio.api.sweep import Trial, TrialParams

    cuts = ("block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool")
    return [Trial(TrialParams(cut=cuts[i % 5], hidden=(256,) if i % 2 else (), learning_rate=3e-4 * (1 + i % 3), epochs=30),
                  0.6 + 0.02 * i, 0.03, 1.5, fold_accuracies=(0.58 + 0.02 * i, 0.62 + 0.02 * i), epochs_run=(3, 3))
            for i in range(n)]


def _sweep_tab(win, qtbot, fake_engine):
    from tlstudio.api.sweep import SweepConfig
    from tlstudio.config import DataConfig
    from tlstudio.errors import TlStudioError

    fake_engine.register("describe_backbone", TlStudioError("the layer list is not part of this test"))
    win.show_page("model")
    page = win.pages["model"]
    page.show_tab(page.sweep_panel)
    panel = page.sweep_panel
    panel.shown = SweepConfig(data=DataConfig(root=win.state.data_config.root))
    panel._show_trials(_trials(15), 14)
    panel.space_button.setChecked(False)  # as when a stored sweep is shown
    panel.controls.status.setText("15 trials in 45.4 s; best 88.0% ± 3.0% (block5_pool avg [256] d0.2 lr0.0009 wd0 e30).")
    qtbot.wait(100)
    area = panel.parentWidget().parentWidget()  # the page's side scroll area
    return panel, area


def test_the_head_sweep_fits_a_1024_by_680_window_without_scrolling(small_window, styled, qtbot, fake_engine):
    """At 680 px the sweep tab scrolled: the plot was cut and the promote row out of sight; the table showed a few rows."""
    panel, area = _sweep_tab(small_window, qtbot, fake_engine)
    assert not panel.space_scroll.isVisible()  # a sweep is shown: the search space is folded
    qtbot.waitUntil(lambda: not area.verticalScrollBar().isVisible(), timeout=2_000)
    assert not area.horizontalScrollBar().isVisible()
    viewport = area.viewport()
    for widget in (panel.controls.run_button, panel.resume_button, panel.space_button, panel.table, panel.plot,
                   panel.promote_button, panel.fine_tune_check):
        top_left = widget.mapTo(viewport, QPoint(0, 0))
        assert viewport.rect().contains(QRect(top_left, widget.size())), (widget.objectName() or type(widget).__name__, top_left, widget.size())
    rows = panel.table.viewport().height() // panel.table.rowHeight(0)
    assert rows >= 5, rows
    assert panel.plot.height() >= 150
    assert text_fits(panel.controls.status)


def test_the_search_space_shows_every_value_whole_at_1024_px(small_window, styled, qtbot, fake_engine):
    """The search space's values read "0003, 0.001" at 1024 px, and its right side scrolled sideways."""
    panel, _area = _sweep_tab(small_window, qtbot, fake_engine)
    panel.space_button.setChecked(True)
    qtbot.waitUntil(panel.space_scroll.isVisible, timeout=2_000)
    qtbot.wait(50)
    assert not panel.space_scroll.horizontalScrollBar().isVisible()
    assert panel.space_box.width() <= panel.space_scroll.viewport().width()
    for key, edit in panel.param_edits.items():
        room = edit.contentsRect().width() - 8  # the frame's text margins
        assert edit.fontMetrics().horizontalAdvance(edit.text()) <= room, (key, edit.text(), edit.width())
        check = panel.param_checks[key]
        assert check.width() >= check.sizeHint().width(), key


def test_the_inspect_pages_image_line_is_never_cut_at_1024_px(small_window, styled, qtbot, fake_engine):
    """It read "No image: pick one from the datase" at 1024 px."""
    from tlstudio.errors import TlStudioError

    for job in ("inspect_table", "describe_backbone"):
        fake_engine.register(job, TlStudioError("the layer table is not part of this test"))
    win = small_window
    win.show_page("inspect")
    page = win.pages["inspect"]
    pictures = page.pictures
    seen = 0
    for label in (pictures.act_image_label, pictures.cam_image_label):
        pictures.setCurrentWidget(label.parentWidget())
        qtbot.waitUntil(label.isVisible, timeout=2_000)
        qtbot.wait(20)
        assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width(), (label.text(), label.width())
        assert label.text() == label.empty_text or (label.text().endswith("…") and label.toolTip() == label.empty_text)
        assert "…" not in label.text()  # short enough to be read whole at 1024 px
        seen += 1
    assert seen == 2


def test_evaluation_results_are_whole_at_1024_by_680(small_window, styled, qtbot):
    """At 1024×680 the per-class table showed one and a half classes and the images hint read "…ring them on the m"."""
    import numpy as np

    from tlstudio.api.evaluate import EvaluationResult
    from tlstudio.api.metrics import compute_metrics

    names = ("ants", "bees", "wasps")
    y = np.array([0] * 8 + [1] * 8 + [2] * 4)
    probs = np.full((len(y), 3), 0.1) + 0.7 * np.eye(3)[y]
    result = EvaluationResult("/run/model.keras", "val", names, tuple(f"/d/{i}.png" for i in range(len(y))), y, probs,
                              compute_metrics(y, probs, names))
    win = small_window
    win.show_page("evaluate")
    view = win.pages["evaluate"].results_panel
    view.set_results({"val": result})
    qtbot.wait(100)
    table = view.class_table
    rows_shown = table.viewport().height() // table.rowHeight(0)
    assert rows_shown >= len(names), rows_shown
    label = view.images_label
    assert label.isVisible() and text_fits(label), (label.text(), label.size())
    header = table.horizontalHeader()
    for col in range(table.columnCount()):  # every metric in view, none scrolled away
        left = header.sectionViewportPosition(col)
        assert 0 <= left and left + header.sectionSize(col) <= table.viewport().width() + 1, (col, left, table.viewport().width())


def test_the_export_page_shows_every_choice_whole_at_1024_px(small_window, styled, qtbot, fake_engine):
    """The walk saw "TFLite dynamic-range quantize", "Measure a certificate for e" and "uint8 (raw pixe" at 1024 px."""
    fake_engine.register("export_formats", {"keras": None, "savedmodel": None, "tflite": None, "onnx": "not installed"})
    win = small_window
    win.show_page("export")
    page = win.pages["export"]
    qtbot.wait(100)
    widgets = [*page.format_checks.values(), page.options.certify, page.options.int8_io, page.options.float_fallback]
    for widget in widgets:
        assert widget.width() >= widget.sizeHint().width(), (getattr(widget, "text", lambda: "")() or widget.objectName(), widget.width())
        assert inside_window(widget)


def test_the_audit_shows_two_columns_of_whole_cards_at_1024_by_680(small_window, styled, qtbot, tmp_path):
    """Seen in the walk: at 1024 px the Audit showed one column of cards (two needed 478 px, the tab had about 460)."""
    from tlstudio.data import generate_sample_dataset

    root = generate_sample_dataset(tmp_path / "shapes", per_class=8, size=40)
    win = small_window
    win.show_page("data")
    view, cards = _shown_audit_cards(win, root, qtbot)
    assert len(cards) >= 2
    area = view.findings
    viewport = area.viewport()
    lefts = {c.mapTo(viewport, QPoint(0, 0)).x() for c in cards}
    assert len(lefts) >= 2, f"one column of cards in a {viewport.width()} px wide tab"
    assert not area.horizontalScrollBar().isVisible()
    for card in cards:
        top_left = card.mapTo(viewport, QPoint(0, 0))
        assert top_left.x() >= 0 and top_left.x() + card.width() <= viewport.width(), (top_left, card.width(), viewport.width())
        for button in (card.relabel_button, card.exclude_button, card.dismiss_button):
            if button.isVisibleTo(card):
                inside = button.mapTo(card, QPoint(0, 0)).x() + button.width() <= card.contentsRect().right() + 1
                text = button.fontMetrics().horizontalAdvance(button.text())
                assert inside and button.width() >= text + 8, (button.text(), button.width(), text, card.width())  # "Looks righ"
        assert text_fits(card.name_label) or "…" in card.name_label.text()
        assert card.info.height() >= card.info.heightForWidth(card.info.width()), card.info.text()  # wrapped text whole


def test_with_the_search_space_open_only_the_space_scrolls_at_1024_by_680(small_window, styled, qtbot, fake_engine):
    """Seen in the walk: with the search space opened at 680 px the whole sweep tab scrolled (the plot and the promote
    row out of sight). The tab fits; the search space scrolls inside itself when the window is too short for all of it."""
    panel, area = _sweep_tab(small_window, qtbot, fake_engine)
    panel.space_button.setChecked(True)
    qtbot.waitUntil(panel.space_scroll.isVisible, timeout=2_000)
    qtbot.wait(100)
    assert not area.verticalScrollBar().isVisible(), (area.widget().height(), area.viewport().height())
    viewport = area.viewport()
    for widget in (panel.controls.run_button, panel.space_scroll, panel.table, panel.plot, panel.promote_button):
        top_left = widget.mapTo(viewport, QPoint(0, 0))
        assert viewport.rect().contains(QRect(top_left, widget.size())), (widget.objectName() or type(widget).__name__, top_left, widget.size())
    assert panel.space_scroll.height() >= 90 and panel.plot.height() >= 150
    inner = panel.space_scroll
    if inner.height() < panel.space_box.sizeHint().height():  # what does not fit scrolls, inside the space only
        assert inner.verticalScrollBar().isVisible()


def test_at_1600_by_1000_the_open_search_space_is_whole(small_window, styled, qtbot, fake_engine):
    small_window.resize(1600, 1000)
    panel, area = _sweep_tab(small_window, qtbot, fake_engine)
    panel.space_button.setChecked(True)
    qtbot.waitUntil(panel.space_scroll.isVisible, timeout=2_000)
    qtbot.wait(100)
    assert not area.verticalScrollBar().isVisible()
    assert not panel.space_scroll.verticalScrollBar().isVisible()
    assert panel.space_scroll.viewport().height() >= panel.space_box.minimumSizeHint().height()


@pytest.fixture
def configured_app(qapp):
    """The application as ``ui.app.configure_application`` sets it up (the sheet on each main window), restored after."""
    from ui.app import WINDOW_STYLE_SHEET, configure_application

    saved = (qapp.styleSheet(), qapp.style().name(), qapp.font(), qapp.property(WINDOW_STYLE_SHEET))
    configure_application(qapp)
    yield qapp
    qapp.setStyleSheet(saved[0])
    qapp.setStyle(saved[1])
    qapp.setFont(saved[2])
    qapp.setProperty(WINDOW_STYLE_SHEET, saved[3])


def test_audit_cards_made_outside_the_window_are_measured_with_the_windows_font(configured_app, isolated_settings, qtbot, tmp_path):
    """Seen in the walk's screenshots: with the sheet on the window, a card measured its text (and fixed its height)
    with the application's 9 pt font before it was placed; at 10 pt its name was drawn under its thumbnail."""
    from tlstudio.data import generate_sample_dataset
    from ui.main_window import MainWindow

    root = generate_sample_dataset(tmp_path / "shapes", per_class=8, size=40)
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.resize(*SMALL)
    win.show()
    qtbot.waitExposed(win)
    view, cards = _shown_audit_cards(win, root, qtbot)
    assert cards
    for card in cards:
        thumb_bottom = card.thumb.geometry().bottom()
        assert card.name_label.geometry().top() > thumb_bottom, (card.path, card.name_label.geometry(), thumb_bottom)
        assert card.info.height() >= card.info.heightForWidth(card.info.width()), card.info.text()
        assert card.name_label.font().pointSizeF() == card.info.font().pointSizeF() == 10.0
