"""The Data page: open, report, split, thumbnails, errors, cancel, augmentation preview.

Opening a folder and the augmentation preview are jobs of the real engine
process (the session's ``engine_client``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tlstudio.config import AugmentConfig
from tlstudio.events import Progress
from ui import worker
from ui.jobs import data_jobs
from ui.panels import augment_preview
from ui.pages.data_page import DataPage
from ui.state import AppState


@pytest.fixture
def page(qtbot):
    state = AppState()
    widget = DataPage(state)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()
    worker.wait_all(30_000)
    qtbot.waitUntil(lambda: not widget.runner.is_running() and not widget.preview_runner.is_running(), timeout=30_000)


def _open(qtbot, page, folder):
    with qtbot.waitSignal(page.runner.finished, timeout=60_000):
        page.state.request_open_folder(str(folder))


def _table(table):
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_open_folder_shows_class_counts_and_updates_state(qtbot, page, tiny_dataset):
    _open(qtbot, page, tiny_dataset)
    prepared = page.state.prepared_data
    assert prepared is not None and page.prepared is prepared
    rows = _table(page.class_table)
    assert [r[0] for r in rows] == list(prepared.class_names)
    assert len(rows) == 3
    for row in rows:
        train, val, test, total = (int(x) for x in row[1:])
        assert total == 8 and train + val + test == 8 and val >= 1
    assert page.chart.totals == [8, 8, 8]
    assert page.state.data_config.root == str(tiny_dataset.resolve())
    assert page.state.num_images == 24
    assert "24 usable images in 3 classes" in page.status_label.text()


def test_skipped_file_is_listed_with_reason_and_copied(qtbot, page, broken_file_dataset):
    _open(qtbot, page, broken_file_dataset)
    rows = _table(page.report_table)
    assert len(rows) == 1
    assert rows[0][0].endswith("broken.jpg")
    assert rows[0][1]  # a reason, in words
    assert "1 skipped" in page.report_summary.text()
    assert "(1 skipped)" in page.tabs.tabText(1)
    page.copy_report_button.click()
    copied = QGuiApplication.clipboard().text()
    assert "broken.jpg" in copied and rows[0][1] in copied
    assert "cats" in copied and "dogs" in copied


def _birds_refused(tmp_path):
    """One usable class and an empty ``birds/`` holding two broken files: refused."""
    from tests.support.images import write_images

    root = tmp_path / "refused"
    write_images(root / "ants", 4, (200, 40, 40))
    (root / "birds").mkdir()
    (root / "birds" / "a.jpg").write_bytes(b"")
    (root / "birds" / "b.jpg").write_bytes(b"")
    return root


def test_folder_without_classes_is_shown_as_refused_with_its_report(qtbot, page, no_class_folder):
    errors = []
    page.state.error_reported.connect(lambda m, d: errors.append((m, d)))
    _open(qtbot, page, no_class_folder)
    assert errors == []  # the page says it in place; no dialog
    assert page.state.prepared_data is None
    assert "cannot train" in page.status_label.text() and "no class folders" in page.status_label.text()
    assert str(no_class_folder) in page.folder_label.text()
    assert page.open_button.isEnabled() and not page.cancel_button.isVisible()


def test_a_refused_folder_replaces_the_old_dataset_and_nothing_trains(qtbot, page, tiny_dataset, tmp_path):
    from ui.jobs.train_jobs import JobRefused, start_config

    _open(qtbot, page, tiny_dataset)
    assert page.class_table.rowCount() == 3
    refused = _birds_refused(tmp_path)
    _open(qtbot, page, refused)
    assert page.state.data_config.root == str(refused)
    assert page.state.prepared_data is None and page.prepared is None
    assert str(refused) in page.folder_label.text()
    assert page.class_table.rowCount() == 0 and page.chart is None or not page.chart.totals
    rows = _table(page.report_table)
    assert sorted(r[0] for r in rows) == ["birds", "birds/a.jpg", "birds/b.jpg"]  # the class, then its files
    assert "2 skipped" in page.report_summary.text()
    assert page.tabs.currentIndex() == 1
    assert page.state.dataset_refused and "only one usable class" in page.state.dataset_refused
    with pytest.raises(JobRefused, match="only one usable class"):
        start_config(page.state, lambda: page.state.train_config)
    _open(qtbot, page, tiny_dataset)  # a usable folder again: it trains
    assert not page.state.dataset_refused and page.class_table.rowCount() == 3


def test_an_empty_class_folder_is_listed_as_skipped_and_the_rest_opens(qtbot, page, tiny_dataset):
    (tiny_dataset / "birds").mkdir()
    _open(qtbot, page, tiny_dataset)
    assert page.prepared.class_names == ("circle", "square", "triangle")
    rows = _table(page.report_table)
    assert rows == [["birds", "class skipped: no valid images"]]
    assert "1 class folder skipped (birds)" in page.status_label.text()


def test_main_window_error_details_are_a_message_not_a_traceback(qtbot, main_window, tmp_path):
    page = main_window.pages["data"]
    missing = tmp_path / "gone"
    with qtbot.waitSignal(page.runner.finished, timeout=60_000):
        main_window.open_folder(missing)
    dialog = main_window.last_error_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert str(missing) in dialog.message
    assert "Traceback" not in dialog.details and "RemoteTraceback" not in dialog.details
    assert "DataError" in dialog.details and str(missing) in dialog.details
    dialog.close()


def test_changing_the_split_recomputes_counts(qtbot, page, tiny_dataset):
    _open(qtbot, page, tiny_dataset)
    page.val_spin.setValue(25)
    page.test_spin.setValue(25)
    assert page.state.data_config.val_fraction == 0.25 and page.state.data_config.test_fraction == 0.25
    rows = _table(page.class_table)
    for row in rows:
        assert [int(x) for x in row[1:]] == [4, 2, 2, 8]
    counts = page.state.prepared_data.counts
    assert sum(counts["test"].values()) == 6
    assert "Test 6" in page.split_label.text()
    before = {i.path for i in page.state.prepared_data.val}
    page.seed_spin.setValue(page.seed_spin.value() + 1)
    after = {i.path for i in page.state.prepared_data.val}
    assert before != after  # a new seed draws a new split of the same size
    assert len(before) == len(after)


def test_impossible_split_is_explained_not_applied(qtbot, page, tiny_dataset):
    _open(qtbot, page, tiny_dataset)
    page.val_spin.setValue(50)
    page.test_spin.setValue(46)  # DataConfig takes it; the page keeps 5 % to train on
    assert "too little to train on" in page.split_label.text() and "Received: 50% + 46%" in page.split_label.text()
    assert page.split_label.property("error")
    page.test_spin.setValue(50)  # DataConfig itself refuses it
    assert "must leave images to train on. Received: 0.5 + 0.5" in page.split_label.text()
    assert page.state.data_config.val_fraction == 0.5 and page.state.data_config.test_fraction == 0.0
    page.test_spin.setValue(0)  # back to the split in force: the counts come back
    assert page.split_label.text() == "Train 12 · Validation 12"
    assert not page.split_label.property("error")


def test_thumbnails_load_lazily(qtbot, page, tmp_path):
    from tests.support.images import write_images

    root = tmp_path / "many"
    write_images(root / "a", 60, (200, 50, 50), size=32, seed=1)
    write_images(root / "b", 60, (50, 50, 200), size=32, seed=2)
    page.resize(700, 500)
    _open(qtbot, page, root)
    model = page.thumb_model
    assert model.rowCount() == 120
    qtbot.waitUntil(lambda: model.loaded_count() > 0, timeout=20_000)
    qtbot.wait(300)
    assert model.requested_count() < 120  # only what the view has shown
    first = model.index(0)
    assert not model.data(first, 1).isNull()  # DecorationRole: a real pixmap
    page.class_combo.setCurrentIndex(page.class_combo.findData("b"))
    assert model.rowCount() == 60
    assert all("/b/" in p for p in model.paths())


@pytest.fixture
def slow_dataset(tmp_path):
    """Two classes of 100 large JPEGs each (hard links of one file): seconds to validate."""
    rng = np.random.default_rng(0)
    big = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8)).save(big, quality=90)
    root = tmp_path / "slow"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(100):
            os.link(big, root / name / f"{i:03d}.jpg")
    return root


@pytest.mark.engine
def test_cancel_stops_a_slow_scan_in_the_engine(qtbot, page, slow_dataset):
    checked = []

    def cancel_at_first_file(event):
        if isinstance(event, Progress) and event.stage == "validate" and event.done and not checked:
            checked.append(event)
            page.cancel_button.click()

    page.runner.event.connect(cancel_at_first_file)
    with qtbot.waitSignal(page.runner.finished, timeout=60_000):
        page.open_folder(str(slow_dataset))
        assert page.cancel_button.isVisible() and page.state.busy
    assert checked and checked[0].done < checked[0].total == 200
    assert page.state.prepared_data is None
    assert page.status_label.text().startswith("Cancelled")
    assert not page.state.busy and not page.cancel_button.isVisible()


def test_augmentation_toggles_update_the_config(page):
    page.flip_combo.setCurrentIndex(page.flip_combo.findData("horizontal"))
    page.aug_checks["rotation"].setChecked(True)
    page.aug_spins["rotation"].setValue(20)
    aug = page.state.data_config.augment
    assert aug == AugmentConfig(flip="horizontal", rotation=0.2)
    page.aug_checks["rotation"].setChecked(False)
    assert page.state.data_config.augment.rotation == 0.0


def test_open_sample_dataset_generates_and_loads_it(qtbot, page):
    with qtbot.waitSignal(page.runner.finished, timeout=120_000):
        page.state.request_open_sample()
    prepared = page.state.prepared_data
    assert prepared is not None and len(prepared.class_names) >= 2
    assert page.class_table.rowCount() == len(prepared.class_names)
    assert page.state.dataset_root == str(prepared.root)


@pytest.mark.engine
def test_preview_tab_shows_augmented_samples(qtbot, page, tiny_dataset):
    _open(qtbot, page, tiny_dataset)
    page.aug_checks["zoom"].setChecked(True)
    with qtbot.waitSignal(page.preview_runner.finished, timeout=120_000):
        page.tabs.setCurrentIndex(2)
    assert len(page.preview_labels) == 2 * (1 + data_jobs.PREVIEW_VARIANTS)
    assert all(not label.pixmap().isNull() for label in page.preview_labels)
    assert page.preview_status.text().startswith("Random draws")


def test_split_changed_elsewhere_is_applied_to_the_loaded_data(qtbot, page, tiny_dataset):
    _open(qtbot, page, tiny_dataset)
    page.state.update_data_config(val_fraction=0.25, test_fraction=0.25)
    assert page.test_spin.value() == 25
    assert [int(x) for x in _table(page.class_table)[0][1:]] == [4, 2, 2, 8]
    assert sum(page.state.prepared_data.counts["test"].values()) == 6


def test_unreadable_thumbnail_becomes_a_tile_not_a_crash(qtbot, tmp_path):
    from ui.widgets.thumbnails import ThumbnailModel, load_thumbnail

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    good = tmp_path / "good.png"
    from PIL import Image

    Image.new("RGB", (50, 20), (255, 0, 0)).save(good)
    assert load_thumbnail(str(bad), 32).isNull()
    image = load_thumbnail(str(good), 32)
    assert (image.width(), image.height()) == (32, 32)
    assert image.pixelColor(16, 16).red() == 255 and image.pixelColor(16, 0).alpha() == 0  # centred, padded

    model = ThumbnailModel(thumb_size=32)
    model.set_paths([str(bad), str(good)])
    for row in range(2):
        model.data(model.index(row), 1)  # DecorationRole: asks for the thumbnails
    qtbot.waitUntil(lambda: model.loaded_count() == 2, timeout=10_000)
    assert not model.data(model.index(0), 1).isNull()
    model.shutdown()


def test_split_refused_before_any_dataset_is_explained_then_cleared(page):
    page.val_spin.setValue(60)
    page.test_spin.setValue(40)
    assert "Received: 0.6 + 0.4" in page.split_label.text()
    page.test_spin.setValue(10)
    assert page.split_label.text() == "" and not page.split_label.property("error")
    assert (page.state.data_config.val_fraction, page.state.data_config.test_fraction) == (0.6, 0.1)


@pytest.mark.engine
@pytest.mark.parametrize("size", [(1200, 800), (1024, 680)], ids=["1200x800", "1024x680"])
def test_screenshot_after_an_augmentation_preview(qtbot, main_window, tiny_dataset, tmp_path, size):
    main_window.resize(*size)
    page = main_window.pages["data"]
    with qtbot.waitSignal(page.runner.finished, timeout=60_000):
        main_window.open_folder(tiny_dataset)
    main_window.show_page("data")
    page.flip_combo.setCurrentIndex(page.flip_combo.findData("horizontal"))
    page.aug_checks["rotation"].setChecked(True)
    with qtbot.waitSignal(page.preview_runner.finished, timeout=120_000):
        page.tabs.setCurrentIndex(2)
    assert page.preview_runner.job == "augment_preview"
    assert len(page.preview_labels) == 2 * (1 + data_jobs.PREVIEW_VARIANTS)
    qtbot.wait(100)
    path = tmp_path / f"data_page_{size[0]}x{size[1]}.png"
    assert main_window.grab().save(str(path))
    # every tile is whole in the visible part of the preview: nothing cut off at the right
    viewport = page.preview_scroll.viewport()
    assert not page.preview_scroll.horizontalScrollBar().isVisible()
    for label in page.preview_labels:
        right = label.mapTo(viewport, label.contentsRect().center()).x() + label.pixmap().width() // 2
        assert right <= viewport.width()
        assert label.pixmap().width() >= augment_preview.MIN_PREVIEW_TILE
    page.tabs.setCurrentIndex(0)
    qtbot.wait(100)
    assert main_window.grab().save(str(tmp_path / f"data_page_{size[0]}x{size[1]}_images.png"))


def _presplit(root, splits):
    from tests.support.images import write_images

    for i, split in enumerate(splits):
        write_images(root / split / "ants", 4, (180, 120, 60), seed=10 + i)
        write_images(root / split / "bees", 4, (60, 120, 180), seed=20 + i)
    return root


def test_split_boxes_a_train_val_layout_ignores_are_disabled_with_the_reason(qtbot, page, tmp_path, tiny_dataset):
    _open(qtbot, page, _presplit(tmp_path / "walk", ("train", "val")))
    assert not page.val_spin.isEnabled() and not page.test_spin.isEnabled() and not page.seed_spin.isEnabled()
    assert page.split_reason.isVisible() and "own train/ and val/ folders" in page.split_reason.text()
    assert "val/ folder is the validation split" in page.val_spin.toolTip()
    assert "no test/ folder" in page.test_spin.toolTip()
    # train/ and test/: the Validation share is taken from train/, so it and the seed work; Test does not
    _open(qtbot, page, _presplit(tmp_path / "trainonly", ("train", "test")))
    assert page.val_spin.isEnabled() and page.seed_spin.isEnabled() and not page.test_spin.isEnabled()
    assert "own test/ folder is the test split" in page.test_spin.toolTip()
    assert "Validation share is taken from train/" in page.split_reason.text()
    # a folder per class: everything applies again, with the usual tooltips
    _open(qtbot, page, tiny_dataset)
    assert page.val_spin.isEnabled() and page.test_spin.isEnabled() and page.seed_spin.isEnabled()
    assert not page.split_reason.isVisible() and page.val_spin.toolTip().startswith("Share of each class")


def test_an_exclusion_updates_every_count_shown(qtbot, page, tiny_dataset):
    """Issue 24: the header stayed at 398 after an exclusion while the status bar said 397."""
    _open(qtbot, page, tiny_dataset)
    assert "24 usable images" in page.status_label.text()
    excluded = page.prepared.train[0].path
    page.state.update_data_config(exclude=(excluded,))
    assert page.state.num_images == 23
    assert "23 usable images" in page.status_label.text() and "1 excluded" in page.status_label.text()


def test_a_file_name_that_is_not_utf8_still_shows_its_thumbnail(qtbot, tmp_path):
    """Issue 24: such a name showed a grey tile; the name is shown with a replacement mark, the image as it is."""
    from ui.widgets.thumbnails import ThumbnailModel

    folder = tmp_path / "imgs"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"\xff\xfe.png")
    Image.new("RGB", (20, 20), (200, 10, 10)).save(raw, format="PNG")
    path = os.fsdecode(raw)  # "\udcff\udcfe.png": how Python names it
    model = ThumbnailModel(thumb_size=32)
    model.set_paths([path])
    with qtbot.waitSignal(model.thumbnail_loaded, timeout=10_000) as got:
        model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert got.args == [path] and model.loaded_count() == 1
    pixmap = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert pixmap.toImage().pixelColor(16, 16).red() > 150  # the picture, not the grey placeholder
    model.shutdown()


def test_a_class_folder_name_with_an_edge_space_is_refused_with_its_name(qtbot, main_window, tmp_path):
    """Issue 25.9: ``bees`` and ``bees `` would collapse into one class in labels.txt; the dialog names the folder."""
    for name in ("ants", "bees "):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (16, 16), (40 * i, 90, 10)).save(tmp_path / "d" / name / f"{i}.png")
    page = main_window.pages["data"]
    with qtbot.waitSignal(page.runner.finished, timeout=60_000):
        main_window.open_folder(tmp_path / "d")
    dialog = main_window.last_error_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert "'bees '" in dialog.message and "rename the folder" in dialog.message and "Received:" in dialog.message
    if os.environ.get("TLSTUDIO_GRAB"):
        main_window.resize(1024, 680)
        main_window.grab().save(os.path.join(os.environ["TLSTUDIO_GRAB"], "data_bad_class_window.png"))
        dialog.grab().save(os.path.join(os.environ["TLSTUDIO_GRAB"], "data_bad_class_dialog.png"))
    dialog.close()
    assert page.state.prepared_data is None
