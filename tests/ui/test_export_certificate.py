"""Export page: the int8 and certificate settings, the certificate table with red class drops, the disagreement grid.

The engine is the ``fake_engine``: it answers the export with a typed
:class:`~tlstudio.api.export.ExportResult` carrying a certificate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from tlstudio.api.certificate import ClassCertificate, Disagreement, ExportCertificate, FormatCertificate, Latency
from tlstudio.api.export import ExportJobConfig, ExportResult
from ui.pages.export_page import ExportPage
from ui.panels.certificate_table import DROP_COLOUR, FIXED_COLUMNS

NAMES = ("ants", "bees", "wasps")


def _images(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        arr = np.full((48, 64, 3), 40 * i, dtype=np.uint8)
        arr[..., i % 3] = 230
        path = folder / f"img_{i}.png"
        Image.fromarray(arr).save(path)
        paths.append(str(path))
    return paths


def _certificate(paths: list[str]) -> ExportCertificate:
    lat = (Latency(1, 50, 2.0, 2.5), Latency(2, 50, 1.2, 1.4))
    tflite = FormatCertificate("tflite", "/o/model.tflite", 900_000, "tflite 2.21", 9, 1.0, 0.889, 0.889, 1e-7, 1e-8,
                               tuple(ClassCertificate(n, 3, 1.0, 0.889, 0.889) for n in NAMES), lat)
    disagreements = tuple(Disagreement(p, "bees", (("bees", 0.7), ("ants", 0.2), ("wasps", 0.1)), (("ants", 0.5), ("bees", 0.4), ("wasps", 0.1)))
                          for p in paths)
    int8 = FormatCertificate("tflite_int8", "/o/model_int8.tflite", 240_000, "tflite 2.21", 9, 0.667, 0.667, 0.889, 0.3, 0.05,
                             (ClassCertificate("ants", 3, 1.0, 1.0, 1.0), ClassCertificate("bees", 3, 0.333, 1.0, 0.333),
                              ClassCertificate("wasps", 3, 0.667, 0.667, 0.658)), lat, disagreements,
                             graph_changes=("equalized 8 of 8 channels of backbone/conv for int8 (...)",
                                            "float check: max |Δp| 3e-07 on 32 calibration images"))
    return ExportCertificate(NAMES, "validation split", 9, "ab" * 32, "cd" * 32, (tflite, int8), {}, {"tensorflow": "2.21.0"}, 2, 50, "now")


@pytest.fixture
def page(qtbot, app_state, fake_engine, tmp_path):
    fake_engine.register("export_formats", {})
    widget = ExportPage(app_state)
    qtbot.addWidget(widget)
    widget.resize(1024, 680)
    model = tmp_path / "run" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"x")
    widget.set_model_path(str(model))
    yield widget
    widget.runner.wait(10_000)
    widget.disagreements.shutdown()


def _export_tflite_and_int8(qtbot, page, fake_engine, result: ExportResult) -> None:
    """Tick TFLite float32 and int8, export, and let the fake engine answer ``result``."""
    fake_engine.register(ExportJobConfig, result)
    for fmt, check in page.format_checks.items():
        check.setChecked(fmt in ("tflite", "tflite_int8"))
    with qtbot.waitSignal(page.runner.finished, timeout=10_000):
        assert page.start_export()
    qtbot.wait(50)


def test_the_config_carries_the_int8_and_certificate_settings(page):
    page.options.calibration.setValue(64)
    page.options.int8_io.setCurrentIndex(page.options.int8_io.findData("int8"))
    page.options.float_fallback.setChecked(True)
    assert page.options.int8_equalize.isChecked()  # on by default
    page.options.int8_equalize.setChecked(False)
    assert page.options.int8_float_head.isChecked()  # on by default
    assert page.export_config().int8_float_head
    page.options.int8_float_head.setChecked(False)
    page.options.latency_runs.setValue(80)
    page.certificate_table.threshold.setValue(2.5)
    page.format_checks["tflite_int8"].setChecked(True)
    cfg = page.export_config()
    assert (cfg.calibration, cfg.int8_io, cfg.float_fallback, cfg.latency_runs, cfg.drop_threshold) == (64, "int8", True, 80, 2.5)
    assert "tflite_int8" in cfg.formats and cfg.certify and cfg.certify_folder == "" and not cfg.int8_equalize
    assert not cfg.int8_float_head
    page.options.certify.setChecked(False)
    assert not page.options.latency_runs.isEnabled() and not page.export_config().certify


def test_certificate_table_marks_class_drops_and_the_grid_compares_top3(qtbot, page, fake_engine, tmp_path):
    paths = _images(tmp_path / "val" / "bees", 3)
    result = ExportResult(files={"tflite": "/o/model.tflite", "tflite_int8": "/o/model_int8.tflite"},
                          failed={"onnx": "ONNX export is not available"}, certificate=_certificate(paths),
                          certificate_path=str(tmp_path / "certificate.json"))
    _export_tflite_and_int8(qtbot, page, fake_engine, result)
    table = page.certificate_table.table
    assert table.rowCount() == 2 and page.results_tabs.currentWidget() is page.certificate_table
    assert [table.item(r, 0).text() for r in range(2)] == ["TFLite float32", "TFLite full-integer int8 (equalized)"]
    assert "equalized 8 of 8 channels" in table.item(1, 0).toolTip() and "float check" in table.item(1, 0).toolTip()
    assert table.item(1, 1).text() == "66.7%" and "(-22.2)" in table.item(1, 2).text()
    assert table.item(1, FIXED_COLUMNS.index("1 thread ms")).text() == "2.00 / 2.50"
    bees = len(FIXED_COLUMNS) + 1
    wasps = bees + 1
    assert table.item(1, bees).background().color() == QColor(DROP_COLOUR)  # -66.7 points
    assert table.item(1, wasps).background().color() != QColor(DROP_COLOUR)  # -0.9 points, under 1
    assert page.certificate_table.dropped_cells() == [("tflite_int8", "bees")]
    page.certificate_table.threshold.setValue(0.5)
    assert table.item(1, wasps).background().color() == QColor(DROP_COLOUR)
    rows = [page.results_table.item(r, 0).text() for r in range(page.results_table.rowCount())]
    assert "ONNX" in rows and "Certificate" in rows

    table.selectRow(1)
    grid = page.disagreements
    assert grid.format_combo.currentData() == "tflite_int8" and grid.thumbs.rowCount() == 3
    assert "3 of 9" in grid.count_label.text()
    page.show()
    qtbot.waitExposed(page)
    page.results_tabs.setCurrentWidget(grid)
    qtbot.wait(50)
    rect = grid.view.visualRect(grid.thumbs.index(1, 0))
    qtbot.mouseClick(grid.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a user's click
    assert "The app" in grid.app_top.text() and "bees" in grid.app_top.text() and "70.0%" in grid.app_top.text()
    assert "int8" in grid.file_top.text() and "50.0%" in grid.file_top.text()
    assert not grid.picture.pixmap().isNull()

    for size in ((1024, 680), (1600, 1000)):
        page.resize(*size)
        page.show()
        qtbot.waitExposed(page)
        for tab in (page.certificate_table, grid):
            page.results_tabs.setCurrentWidget(tab)
            qtbot.wait(100)
            page.grab().save(str(tmp_path / f"export_{tab.__class__.__name__}_{size[0]}.png"))
    print(tmp_path)


def test_no_certificate_says_why(qtbot, page, fake_engine):
    fake_engine.register(ExportJobConfig, ExportResult(files={"keras": "/o/model.keras"}, certificate_note="the run has no split manifest"))
    with qtbot.waitSignal(page.runner.finished, timeout=10_000):
        assert page.start_export()
    qtbot.wait(50)
    assert "No certificate: the run has no split manifest" in page.certificate_table.summary.text()
    assert page.certificate_table.table.rowCount() == 0


def test_a_short_window_keeps_every_certificate_row_in_view(qtbot, page, fake_engine, tmp_path):
    """At 1024×680 the settings took the height and the certificate showed one row; now they scroll instead."""
    page.resize(850, 610)  # the page's share of a 1024×680 window
    page.show()
    qtbot.waitExposed(page)
    result = ExportResult(files={"tflite": "/o/model.tflite", "tflite_int8": "/o/model_int8.tflite"},
                          certificate=_certificate(_images(tmp_path / "val" / "bees", 1)))
    _export_tflite_and_int8(qtbot, page, fake_engine, result)
    table = page.certificate_table.table
    assert table.rowCount() == 2
    for row in range(table.rowCount()):
        cell = table.visualRect(table.model().index(row, 0))
        assert table.viewport().rect().contains(cell), (row, cell, table.viewport().rect())
    page_rect = page.rect()
    for widget in (page.export_button, page.progress, page.status_label):  # the controls stay in view
        corner = widget.mapTo(page, widget.rect().bottomRight())
        assert widget.isVisible() and page_rect.contains(corner), widget.objectName()
    scroll = page.settings_scroll
    assert scroll.widget().height() > scroll.viewport().height()  # the settings scroll; nothing is cut
    assert scroll.verticalScrollBar().isVisible()
    page.resize(1400, 900)  # made taller, then as short again: the results keep their rows
    qtbot.wait(20)
    page.resize(850, 610)
    qtbot.wait(20)
    assert page.results_tabs.height() >= 250, page.splitter.sizes()
    assert page.settings_scroll.height() >= 150, page.splitter.sizes()  # and the settings keep theirs
    for widget in (*page.format_checks.values(), page.verify_check, page.out_button):  # whole, or scrolled to
        assert widget.width() >= widget.sizeHint().width(), widget.objectName()


def test_the_certificate_fits_the_page_width_of_a_1024_window(qtbot, page, fake_engine, tmp_path):
    """Five formats and two classes in the page's share of a 1024×680 window: no sideways scrolling.

    The Format column takes what is left and elides its notes (whole in the tooltip); before, the
    last class column was pushed out of view and the table scrolled sideways.
    """
    page.resize(850, 610)
    page.show()
    qtbot.waitExposed(page)
    lat = (Latency(1, 50, 412.5, 430.25), Latency(2, 50, 230.75, 251.5))
    classes = (ClassCertificate("ants", 25, 1.0, 0.92, 0.92), ClassCertificate("bees", 24, 0.958, 0.958, 0.917))
    formats = tuple(
        FormatCertificate(fmt, f"/o/model_{fmt}.tflite", 14_800_000, "tflite 2.21.0", 49, 0.9796, 0.918, 0.918, 0.0379, 0.0087,
                          classes, lat, float_ops=("head/pool", "head/dense") if fmt == "tflite_int8" else (),
                          graph_changes=("equalized 512 of 512 channels",) if fmt == "tflite_int8" else ())
        for fmt in ("keras", "savedmodel", "tflite", "tflite_float16", "tflite_int8"))
    cert = ExportCertificate(("ants", "bees"), "validation split", 49, "ab" * 32, "cd" * 32, formats, {}, {"tensorflow": "2.21.0"}, 2, 50, "now")
    result = ExportResult(files={f.format: f.file for f in formats}, certificate=cert)
    _export_tflite_and_int8(qtbot, page, fake_engine, result)
    table = page.certificate_table.table
    qtbot.wait(50)
    assert table.rowCount() == 5
    assert table.horizontalScrollBar().maximum() == 0, table.horizontalScrollBar().maximum()
    last = table.visualRect(table.model().index(0, table.columnCount() - 1))
    assert table.viewport().rect().contains(last), (last, table.viewport().rect())
    int8 = table.item(4, 0)
    assert "2 layers float32" in int8.text() and "2 layers float32" in int8.toolTip()  # elided on screen, whole here
    for c in range(1, table.columnCount()):  # every number whole
        item = table.item(4, c)
        width = table.fontMetrics().horizontalAdvance(item.text())
        assert table.columnWidth(c) >= width, (table.horizontalHeaderItem(c).text(), table.columnWidth(c), width)
    page.grab().save(str(tmp_path / "certificate_850.png"))
