"""The Train page's "Choose cut and head automatically" as a user runs it, through the real engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

RUN_TIMEOUT_MS = 300_000


@pytest.mark.engine
@pytest.mark.slow
def test_auto_head_from_the_train_page_trains_the_chosen_cut_and_says_why(qtbot, tmp_path):
    from tlstudio.data import generate_sample_dataset
    from ui.main_window import MainWindow

    shapes = generate_sample_dataset(tmp_path / "shapes", per_class=10, size=32)
    window = MainWindow(restore=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    state = window.state
    with qtbot.waitSignal(state.data_changed, timeout=120_000):
        window.open_folder(shapes)
    state.update_model_config(backbone="vgg16", weights="none", image_size=32)

    train = window.pages["train"]
    window.show_page("train")
    train.epochs_spin.setValue(2)
    train.auto_head_check.setChecked(True)
    assert state.train_config.auto_head
    with qtbot.waitSignal(train.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result is not None and result.error is None, getattr(result, "error_details", "")
    assert result.auto_head and result.epochs_completed >= 1
    record = json.loads((Path(result.run_dir) / "auto_head.json").read_text())
    chosen = json.loads((Path(result.run_dir) / "run_config.json").read_text())["model"]
    assert record["model"]["cut"] == record["chosen"]["cut"] == chosen["cut"] and chosen["cut"].startswith("block")
    assert record["model"]["head"]["pooling"] == chosen["head"]["pooling"] == record["chosen"]["trial"]["pooling"]
    assert "Auto head:" in train.log.toPlainText()  # the reason reaches the user
    if os.environ.get("TLSTUDIO_SHOTS"):
        window.grab().save(str(Path(os.environ["TLSTUDIO_SHOTS"]) / "train_auto_head.png"))
