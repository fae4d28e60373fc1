"""Helpers for the training plots' tests: what an axis paints, where an item sits, a demo run to draw."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.events import BatchEnd

if TYPE_CHECKING:
    from ui.widgets.plots import TrainingPlots


def drawn_labels(axis) -> list[str]:
    """The tick labels ``axis`` actually paints (pyqtgraph drops those that do not fit)."""
    from PySide6.QtGui import QImage, QPainter

    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _rect, _flags, text in specs[2]] if specs else []


def scene_rect(item, widget):
    """``item``'s bounding rect in ``widget``'s pixel coordinates."""
    from PySide6.QtCore import QRect

    view = item.scene().views()[0]
    rect = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    return QRect(view.mapTo(widget, rect.topLeft()), rect.size())


def feed_demo_run(plots: "TrainingPlots", fine_tune_lr: float = 1e-4) -> None:
    """Four head epochs at 1e-3 and two fine-tuning epochs, as the screenshots' demo run."""
    from tlstudio.events import EpochEnd, PhaseChanged, RunStarted, PhasePlan

    phases = (PhasePlan(1, "head", 4, 1e-3, 10, 100), PhasePlan(2, "fine_tune", 2, fine_tune_lr, 60, 50))
    plots.handle_event(RunStarted("/tmp/run", ("a", "b", "c"), phases, 6, 8, 2, 128, 32, 16))
    for epoch in range(6):
        phase = 1 if epoch < 4 else 2
        if epoch in (0, 4):
            plan = phases[phase - 1]
            plots.handle_event(PhaseChanged(phase, plan.name, epoch, plan.epochs, plan.learning_rate, 10, 100))
        for batch in range(8):
            t = epoch + (batch + 1) / 8
            lr = 1e-3 if phase == 1 else fine_tune_lr
            plots.handle_event(BatchEnd(phase, epoch, batch, 8, epoch * 8 + batch + 1, 36 * 0.6**t, min(1.0, 0.3 + 0.11 * t), lr, 50.0))
        metrics = {"loss": 30 * 0.6**epoch, "accuracy": 0.3 + 0.1 * epoch, "val_loss": 8 * 0.6**epoch, "val_accuracy": 0.3 + 0.12 * epoch}
        plots.handle_event(EpochEnd(phase, epoch, metrics, 1e-3 if phase == 1 else fine_tune_lr, 1.0))
    plots.redraw()
