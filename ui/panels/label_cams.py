"""Grad-CAM on demand for the Label page's cards: one ``predict`` job at a time, in the order asked.

The run's model (a run folder) predicts the card's image with
``gradcam=True`` in the engine (:mod:`tlstudio.jobs.evaluate`); the overlay
goes beside the card's thumbnail, or the reason there is none.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from tlstudio.api.evaluate import PredictConfig, PredictResult  # dataclasses only
from tlstudio.api.model_ref import ModelRef
from ui.engine import engine
from ui.panels.label_grid import LabelCard
from ui.widgets.images import to_pixmap


class CardCams(QObject):
    """The queue of cards waiting for their Grad-CAM."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.queue: list[LabelCard] = []
        self.run_dir = ""
        self.runner = engine().task(self)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(self._next)

    def request(self, card: LabelCard, run_dir: str) -> None:
        """Queue ``card``'s Grad-CAM with the model of ``run_dir``."""
        if card in self.queue:
            return
        self.run_dir = run_dir
        card.show_cam(None, "waiting…")
        self.queue.append(card)
        self._next()

    def pending(self) -> int:
        return len(self.queue)

    def clear(self) -> None:
        """Forget the waiting cards (a new batch) and stop the running job."""
        self.queue = []
        self.runner.cancel()

    def _next(self) -> None:
        if self.runner.is_running() or not self.queue:
            return
        self.runner.start("predict", PredictConfig(ModelRef(path=self.run_dir), (self.queue[0].path,), gradcam=True))

    def _take(self) -> LabelCard | None:
        card = self.queue.pop(0) if self.queue else None
        try:
            card.isVisible() if card is not None else None  # a card of a batch since replaced is deleted
        except RuntimeError:
            return None
        return card

    def _on_result(self, out: PredictResult) -> None:
        card = self._take()
        if card is not None:
            card.show_cam(to_pixmap(out.overlay) if out.overlay is not None else None, out.gradcam_error or "no Grad-CAM")

    def _on_error(self, message: str, _details: str) -> None:
        card = self._take()
        if card is not None:
            card.show_cam(None, "failed")
            card.cam.setToolTip(message)
