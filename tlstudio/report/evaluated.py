"""The report's evaluation: the run's model on one split, and Grad-CAM of its most confident mistakes.

This is the module of the report that loads TensorFlow (through the engine's
model cache and :mod:`tlstudio.evaluation`); it does so inside its functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlstudio.api.evaluate import EvaluationResult, ImagePrediction
from tlstudio.api.model_ref import ModelRef
from tlstudio.cancel import CancelToken
from tlstudio.errors import TlStudioError
from tlstudio.events import LogMessage, Sink
from tlstudio.report.facts import RunFacts
from tlstudio.report.figures import png_uri


@dataclass(frozen=True)
class Mistake:
    """One confidently wrong image: its prediction, a thumbnail and its Grad-CAM (or why there is none)."""

    prediction: ImagePrediction
    thumbnail: str
    gradcam: str = ""
    gradcam_error: str = ""


@dataclass
class Evaluated:
    """The evaluation the report shows, or why there is none (``problem``)."""

    split: str = ""
    result: EvaluationResult | None = None
    mistakes: list[Mistake] = field(default_factory=list)
    problem: str = ""


def choose_split(facts: RunFacts, wanted: str) -> str:
    """``wanted``, or for ``"auto"`` the test split when the run has one, else validation."""
    if wanted != "auto":
        return wanted
    totals = (facts.dataset or {}).get("totals") or {}
    return "test" if int(totals.get("test") or 0) > 0 else "val"


def evaluate_run(facts: RunFacts, split: str, mistakes: int, sink: Sink, cancel: CancelToken) -> Evaluated:
    """Evaluate the run's ``model.keras`` on ``split`` and explain up to ``mistakes`` mistakes with Grad-CAM.

    Never raises for a run that cannot be evaluated: :attr:`Evaluated.problem` says why.
    """
    if facts.model_path is None:
        return Evaluated(problem="The run folder holds no model.keras, so the model was not evaluated.")
    chosen = choose_split(facts, split)
    from tlstudio.evaluation import evaluate_splits
    from tlstudio.model_cache import loaded_model, model_lock

    try:
        model = loaded_model(ModelRef(path=facts.run_dir))
        with model_lock(model):
            results = evaluate_splits(model, None, splits=(chosen,), sink=sink, cancel=cancel)
            result = results[chosen]
            shown = _mistakes(model, result, mistakes, sink, cancel)
    except TlStudioError as exc:
        return Evaluated(split=chosen, problem=f"The model could not be evaluated on the {chosen} split: {exc}")
    if not result.paths:
        return Evaluated(split=chosen, result=result, problem=f"The {chosen} split has no images to evaluate.")
    return Evaluated(split=chosen, result=result, mistakes=shown)


def _mistakes(model: Any, result: EvaluationResult, limit: int, sink: Sink, cancel: CancelToken) -> list[Mistake]:
    from tlstudio.imaging import load_image

    shown = []
    for row in result.mistakes(limit):
        if cancel.cancelled:
            break
        try:
            image = load_image(row.path)
        except (OSError, ValueError) as exc:
            sink(LogMessage(f"{row.path}: cannot be read for the report ({exc})", "warning"))
            continue
        overlay, why = _gradcam(model, image, row.pred)
        shown.append(Mistake(row, png_uri(image), png_uri(overlay) if overlay is not None else "", why))
    return shown


def _gradcam(model: Any, image: Any, class_index: int) -> tuple[Any, str]:
    if model.model is None:
        return None, f"Grad-CAM needs a Keras model. Received: a {model.source.kind} model"
    try:
        from tlstudio.inspection.gradcam import grad_cam

        return grad_cam(model.model, image, class_index=class_index).overlay, ""
    except Exception as exc:  # noqa: BLE001 - Grad-CAM is a bonus; the report says why it is missing
        return None, f"{type(exc).__name__}: {exc}"
