"""What other pages tell the embedding map, without importing each other.

The map lives on the Data page's Map tab; the Evaluate page knows which
images fall in which confusion-matrix cell and what the model predicted for
each. Both talk to the one :class:`MapLink` of the app state
(:func:`map_link`), never to each other:

* :meth:`MapLink.highlight` — "these images" (a confusion-matrix cell: true
  class i predicted as j); the map rings them.
* :meth:`MapLink.set_predictions` — every evaluated image's true and
  predicted class, so the map can colour by predicted class and by
  correct/wrong even when it was computed without a model.
* :meth:`MapLink.request_show` — show the Data page's Map tab (through the
  main window's ``state.page_requested``).

The link keeps the latest of each, so a map built later (pages are built
lazily) starts from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from weakref import WeakKeyDictionary

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class Highlight:
    """Images another page asked the map to ring.

    Attributes:
        paths: The images, as the scan (and the evaluation) report them.
        title: What they are, e.g. "true ants → predicted bees".
    """

    paths: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class Prediction:
    """One evaluated image.

    Attributes:
        true: Its class name in the evaluation.
        predicted: The model's class name.
        split: The split it was evaluated in.
    """

    true: str
    predicted: str
    split: str = ""

    @property
    def correct(self) -> bool:
        return self.true == self.predicted


class MapLink(QObject):
    """The map's inbox: a highlight, the evaluation's predictions, and "show the map".

    Attributes:
        current: The latest :class:`Highlight`, or None.
        predictions: Image path -> :class:`Prediction` of the latest evaluation (empty when none).

    Signals:
        highlight_changed(object): a new :class:`Highlight`, or None when cleared.
        predictions_changed(object): the new predictions mapping.
        show_requested(): someone asked to see the map.
    """

    highlight_changed = Signal(object)
    predictions_changed = Signal(object)
    show_requested = Signal()

    def __init__(self, state: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.current: Highlight | None = None
        self.predictions: dict[str, Prediction] = {}
        model_path_changed = getattr(state, "model_path_changed", None)
        if model_path_changed is not None:  # another model: the old one's evaluation no longer describes it
            model_path_changed.connect(lambda _path: self.predictions and self.set_predictions({}))

    def highlight(self, paths: Sequence[str], title: str) -> None:
        """Ask the map to ring ``paths``."""
        self.current = Highlight(tuple(str(p) for p in paths), title)
        self.highlight_changed.emit(self.current)

    def clear_highlight(self) -> None:
        """Drop the highlight."""
        self.current = None
        self.highlight_changed.emit(None)

    def set_predictions(self, predictions: Mapping[str, Prediction]) -> None:
        """Replace the evaluation's predictions (an empty mapping clears them)."""
        self.predictions = dict(predictions)
        self.predictions_changed.emit(self.predictions)

    def request_show(self) -> None:
        """Show the Data page's Map tab: the main window shows the page, the page its tab."""
        page_requested = getattr(self.state, "page_requested", None)
        if page_requested is not None:
            page_requested.emit("data")
        self.show_requested.emit()


_LINKS: "WeakKeyDictionary[Any, MapLink]" = WeakKeyDictionary()


def map_link(state: Any) -> MapLink:
    """The one :class:`MapLink` of ``state`` (created on first use)."""
    link = _LINKS.get(state)
    if link is None:
        link = MapLink(state, parent=state if isinstance(state, QObject) else None)
        _LINKS[state] = link
    return link
