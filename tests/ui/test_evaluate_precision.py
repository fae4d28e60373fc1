"""The Evaluate page's opt-in "Fast precision": float32 by default, and the page says when it computed otherwise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tlstudio.api.evaluate import EvaluateConfig, EvaluationResult
from tlstudio.api.metrics import compute_metrics
from tlstudio.config import TrainConfig

NAMES = ("red", "blue")


def _result(precision: str) -> dict[str, EvaluationResult]:
    y = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    result = EvaluationResult("/m/model.keras", "val", NAMES, ("a.png", "b.png", "c.png"), y, probs,
                              compute_metrics(y, probs, NAMES), precision=precision)
    return {"val": result}


@pytest.fixture
def page(qtbot):
    from ui.pages.evaluate_page import EvaluatePage
    from ui.state import AppState

    widget = EvaluatePage(AppState(train_config=TrainConfig(precision="bfloat16")))
    qtbot.addWidget(widget)
    widget.resize(1024, 680)
    widget.show()
    widget.model_path = "/m/model.keras"
    yield widget
    widget.shutdown()


def _evaluate(qtbot, page):
    with qtbot.waitSignal(page.runner.finished, timeout=10_000):
        assert page.evaluate()


def test_evaluation_stays_float32_unless_the_user_opts_in(qtbot, page, fake_engine):
    fake_engine.register(EvaluateConfig, lambda config: _result(config.precision if config.precision != "auto" else "float32"))
    _evaluate(qtbot, page)
    assert fake_engine.calls[-1][1].precision == "float32"
    assert "accuracy" in page.summary.text() and "precision" not in page.summary.text()

    page.fast_check.setChecked(True)
    _evaluate(qtbot, page)
    assert fake_engine.calls[-1][1].precision == "bfloat16"  # the Train page's choice
    assert "Computed in bfloat16 (fast precision, opted in)" in page.summary.text()


def test_an_opt_in_this_machine_cannot_speed_up_says_float32(qtbot, page, fake_engine):
    page.state.set_train_config(replace(page.state.train_config, precision="float32"))
    fake_engine.register(EvaluateConfig, lambda config: _result("float32"))
    page.fast_check.setChecked(True)
    _evaluate(qtbot, page)
    assert fake_engine.calls[-1][1].precision == "auto"
    assert "compute in float32" in page.summary.text()


def test_the_config_refuses_an_unknown_precision():
    from tlstudio.errors import ConfigError

    with pytest.raises(ConfigError, match=r"precision must be one of .* Received: 'half'"):
        EvaluateConfig("/m/model.keras", precision="half")
