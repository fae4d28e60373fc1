"""The Inspect page's engine work: the layer-table job and the queue of picture jobs.

``"inspect_table"`` builds or loads the chosen model and returns its
:class:`~tlstudio.shapes.formulas.LayerTable`. The pictures
(``"filters"``, ``"activations"``, ``"gradcam"``) run one at a time on their
own task; a newer request of a kind replaces a queued one, and each result
comes back with the kind and model it was asked for, so a picture of a model
no longer shown is dropped.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from tlstudio.backbones import weights_status
from tlstudio.api.inspect import ActivationsConfig, FiltersConfig, GradCamConfig, InspectTableConfig
from tlstudio.api.model_ref import ModelRef
from ui.engine import engine

VISUAL_JOBS = ("filters", "activations", "gradcam")
"""Engine jobs that draw a picture of the inspected model."""

VisualConfig = FiltersConfig | ActivationsConfig | GradCamConfig


def weights_problem(ref: ModelRef) -> str:
    """Why ``ref``'s backbone weights cannot be used now ("" when they can, or will download)."""
    if ref.backbone and ref.weights != "none":
        status = weights_status(ref.backbone, ref.weights, ref.image_size)
        if not status.available and status.source != "download":
            return status.message
    return ""


class InspectJobs(QObject):
    """The page's two engine tasks: one for the layer table, one for the pictures.

    Args:
        parent: The page; the tasks live and die with it.

    Attributes:
        build_runner: Task of the ``"inspect_table"`` job.
        visual_runner: Task of the picture jobs.
        visual: ``(kind, model)`` of the picture job running or last run.
    """

    def __init__(self, parent: QObject):
        super().__init__(parent)
        # Short reads of the model the user did not have to confirm: closing the
        # window waits for them instead of asking (background=True).
        self.build_runner = engine().task(parent, background=True)
        self.visual_runner = engine().task(parent, background=True)
        self._pending: dict[str, VisualConfig] = {}
        self.visual: tuple[str, ModelRef | None] = ("", None)

    def build(self, ref: ModelRef) -> None:
        """Ask for ``ref``'s layer table."""
        self.build_runner.start("inspect_table", InspectTableConfig(ref))

    def queue(self, kind: str, config: VisualConfig) -> None:
        """Run the ``kind`` picture job with ``config`` next (replacing a queued one of that kind)."""
        self._pending[kind] = config
        self.next_visual()

    def next_visual(self) -> None:
        """Start the oldest queued picture job when none runs."""
        if self.visual_runner.is_running() or not self._pending:
            return
        kind = next(iter(self._pending))
        config = self._pending.pop(kind)
        self.visual = (kind, config.model)
        self.visual_runner.start(kind, config)

    def clear(self) -> None:
        """Drop the queued picture jobs (a new model is shown)."""
        self._pending.clear()
