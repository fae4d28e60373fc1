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
    qtbot.wait(50)
    for field in (win.dataset_label, win.backbone_label, win.run_label, win.tf_label):
        assert inside_window(field)
        assert field.fontMetrics().horizontalAdvance(field.shown_text()) <= field.width()
    assert "…" in win.dataset_label.shown_text()
    assert "a-very-long-dataset-folder-name-from-a-camera-export-2026-12-06" in win.dataset_label.toolTip()
