"""The Evaluate page's ROC and precision-recall curves: the evaluation's own numbers, beside the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from tlstudio.api.evaluate import EvaluationResult
from tlstudio.api.metrics import compute_metrics

NAMES = ("ant", "bee", "wasp")


def _result() -> EvaluationResult:
    rng = np.random.default_rng(0)
    y = np.array([0] * 8 + [1] * 8 + [2] * 4)
    logits = rng.normal(size=(len(y), 3)) + 2.0 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    paths = tuple(f"/data/{NAMES[c]}/{i}.png" for i, c in enumerate(y))
    return EvaluationResult("/run/model.keras", "val", NAMES, paths, y, probs, compute_metrics(y, probs, NAMES))


@pytest.fixture
def panel(qtbot, fake_engine):
    from ui.panels.evaluation_results import EvaluationResults
    from ui.state import AppState

    widget = EvaluationResults(AppState())
    qtbot.addWidget(widget)
    return widget


def test_table_and_legends_show_each_class_area(panel):
    result = _result()
    panel.set_results({"val": result})
    curves = result.metrics.curves
    assert [panel.class_table.horizontalHeaderItem(c).text() for c in (5, 6)] == ["AUC", "AP"]
    for row, c in enumerate(curves):
        assert panel.class_table.item(row, 5).text() == f"{c.roc_auc:.3f}"
        assert panel.class_table.item(row, 6).text() == f"{c.average_precision:.3f}"
    roc, pr = panel.curves.legend_texts()
    assert roc == [f"{c.name} AUC {c.roc_auc:.3f}" for c in curves]
    assert pr == [f"{c.name} AP {c.average_precision:.3f}" for c in curves]
    drawn = [item for item in panel.curves.roc.listDataItems() if item.name()]
    assert np.allclose(drawn[0].getData()[0], curves[0].fpr) and np.allclose(drawn[0].getData()[1], curves[0].tpr)


def test_a_class_without_images_has_no_curve_and_a_dash(panel):
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]])
    result = EvaluationResult("/m.keras", "val", NAMES, tuple(f"/{i}.png" for i in range(4)), y, probs, compute_metrics(y, probs, NAMES))
    panel.set_results({"val": result})
    assert panel.class_table.item(2, 5).text() == "—" and panel.class_table.item(2, 6).text() == "—"
    roc, pr = panel.curves.legend_texts()
    assert [t.split()[0] for t in roc] == ["ant", "bee"] and [t.split()[0] for t in pr] == ["ant", "bee"]


@pytest.mark.parametrize("size", [(1024, 680), (1600, 1000)])
def test_screenshot(panel, qtbot, tmp_path, size):
    panel.set_results({"val": _result()})
    panel.resize(*size)
    panel.show()
    qtbot.wait(50)
    assert panel.curves.roc.width() > 120 and panel.curves.pr.height() > 120 and panel.matrix.width() > 150
    panel.grab().save(str(tmp_path / f"curves_{size[0]}.png"))
