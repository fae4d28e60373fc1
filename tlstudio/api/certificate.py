"""The export certificate: how exactly each exported file reproduces the app, per class and per image. Keras-free.

An export measures one :class:`ExportCertificate` (stored as
``certificate.json`` in the export folder, and summarised in ``model.json``):
for every written format a :class:`FormatCertificate` with the top-1
agreement with the app's own model (overall and per class), the accuracy and
its change against the app, the max and mean absolute probability
difference, the size on disk, the latency of single-image calls with one
thread and with all threads in the format's own runtime, and every image
whose top-1 differs from the app's (:class:`Disagreement`, with both top-3).

Agreement compares a file with the app's predictions, not with the labels:
a file that makes the app's mistakes agrees 100%. Accuracy compares with the
labels. Every type round-trips through JSON (:meth:`ExportCertificate.to_dict`
and :meth:`ExportCertificate.from_dict`, which checks every field).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.errors import ExportError

CERTIFICATE_FILE = "certificate.json"
"""The certificate's file name in the export folder."""

CERTIFICATE_VERSION = 1


@dataclass(frozen=True)
class ClassCertificate:
    """One class of one format.

    Attributes:
        name: The class.
        images: Images of this class certified.
        agreement: Share of them whose top-1 matches the app's top-1.
        app_accuracy: The app's accuracy on them (0..1).
        accuracy: The file's accuracy on them (0..1).
    """

    name: str
    images: int
    agreement: float
    app_accuracy: float
    accuracy: float

    @property
    def change_points(self) -> float:
        """Accuracy change against the app in percentage points (negative: the file is worse)."""
        return round(100.0 * (self.accuracy - self.app_accuracy), 6)


@dataclass(frozen=True)
class Latency:
    """Single-image latency of one format with one thread setting.

    Attributes:
        threads: Threads the runtime was given.
        calls: Timed calls (after warm-up).
        median_ms: Median wall time of one call, milliseconds.
        p90_ms: 90th percentile, milliseconds.
    """

    threads: int
    calls: int
    median_ms: float
    p90_ms: float


@dataclass(frozen=True)
class Disagreement:
    """An image whose top-1 differs between the file and the app.

    Attributes:
        path: The image file.
        label: Its true class ("" when unknown).
        app_top3: The app's three best ``(class, probability)``.
        format_top3: The file's three best ``(class, probability)``.
    """

    path: str
    label: str
    app_top3: tuple[tuple[str, float], ...]
    format_top3: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class FormatCertificate:
    """What one exported file gives against the app.

    Attributes:
        format: The export format (``"tflite_int8"``...).
        file: The file (or SavedModel folder).
        size_bytes: Its size on disk (a folder: all its files).
        runtime: The runtime that ran it, with its version (``"tflite 2.21.0"``).
        images: Images certified.
        agreement: Share whose top-1 matches the app's.
        accuracy: The file's accuracy on them.
        app_accuracy: The app's accuracy on them.
        max_abs_diff: Largest |Δ| of any probability against the app's.
        mean_abs_diff: Mean |Δ| over all images and classes.
        classes: One entry per class, in label order.
        latency: Single-image latency, one thread first, then all threads.
        disagreements: Every image whose top-1 differs from the app's.
        float_ops: Layers an int8 file keeps in float32 (float fallback).
        graph_changes: Float-equivalent rewrites of the graph the int8 file was
            converted from (channel equalization, preprocessing as a 1x1
            convolution), each a sentence, the float check last.
    """

    format: str
    file: str
    size_bytes: int
    runtime: str
    images: int
    agreement: float
    accuracy: float
    app_accuracy: float
    max_abs_diff: float
    mean_abs_diff: float
    classes: tuple[ClassCertificate, ...] = ()
    latency: tuple[Latency, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    float_ops: tuple[str, ...] = ()
    graph_changes: tuple[str, ...] = ()

    @property
    def accuracy_change_points(self) -> float:
        """Overall accuracy change against the app, percentage points."""
        return round(100.0 * (self.accuracy - self.app_accuracy), 6)

    def class_drops(self, threshold_points: float) -> tuple[ClassCertificate, ...]:
        """The classes whose accuracy dropped by more than ``threshold_points`` against the app."""
        return tuple(c for c in self.classes if -c.change_points > threshold_points)

    def latency_for(self, threads: int) -> Latency | None:
        """The latency measured with ``threads`` threads, if any."""
        return next((lat for lat in self.latency if lat.threads == threads), None)


@dataclass(frozen=True)
class ExportCertificate:
    """The certificate of one export: every written format measured on the same images.

    Attributes:
        class_names: Class names in label order.
        source: What was certified: ``"validation split"`` or a folder.
        images: Images certified.
        image_set_hash: SHA-256 of the certified files (relative path, size).
        split_manifest_hash: SHA-256 of the run's ``split_manifest.json``
            ("" when a folder was certified or the run has none).
        formats: One :class:`FormatCertificate` per certified format.
        failed: Format to why it has no certificate.
        runtime_versions: Library to version (tensorflow, onnxruntime, numpy...).
        threads_all: The thread count of the "all threads" latency.
        latency_runs: Timed single-image calls per format and thread setting.
        created: ISO time of the measurement.
    """

    class_names: tuple[str, ...]
    source: str
    images: int
    image_set_hash: str = ""
    split_manifest_hash: str = ""
    formats: tuple[FormatCertificate, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    runtime_versions: Mapping[str, str] = field(default_factory=dict)
    threads_all: int = 1
    latency_runs: int = 0
    created: str = ""

    def get(self, fmt: str) -> FormatCertificate | None:
        """The certificate of format ``fmt``, if measured."""
        return next((c for c in self.formats if c.format == fmt), None)

    def below_agreement(self, minimum: float) -> dict[str, float]:
        """Format to agreement for the formats whose agreement is below ``minimum`` (0..1)."""
        return {c.format: c.agreement for c in self.formats if c.agreement < minimum}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples as lists)."""
        data = dataclasses.asdict(self)
        data["version"] = CERTIFICATE_VERSION
        data["failed"] = dict(self.failed)
        data["runtime_versions"] = dict(self.runtime_versions)
        return json.loads(json.dumps(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = CERTIFICATE_FILE) -> "ExportCertificate":
        """Read :meth:`to_dict` output back, checking every field.

        Raises:
            ExportError: naming ``source``, the field, what was expected and what was received.
        """
        if not isinstance(data, dict):
            raise _bad(source, "(top level)", "a JSON object", data)
        if data.get("version") != CERTIFICATE_VERSION:
            raise _bad(source, "version", str(CERTIFICATE_VERSION), data.get("version"))
        return _build(cls, data, source, "")


# ----------------------------------------------------------------------- reading back


def _bad(source: str, where: str, expected: str, value: Any) -> ExportError:
    shown = json.dumps(value, default=str)
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    return ExportError(f"{source}: field '{where}' must be {expected}. Received: {shown}", path=source)


_NESTED = {
    (ExportCertificate, "formats"): FormatCertificate,
    (FormatCertificate, "classes"): ClassCertificate,
    (FormatCertificate, "latency"): Latency,
    (FormatCertificate, "disagreements"): Disagreement,
}


def _scalar(kind: str, value: Any, source: str, where: str) -> Any:
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _bad(source, where, {"str": "a text", "int": "a whole number", "float": "a number"}[kind], value)


def _top3(value: Any, source: str, where: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, list):
        raise _bad(source, where, "a list of [class, probability]", value)
    out = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _bad(source, f"{where}[{i}]", "[class, probability]", pair)
        out.append((_scalar("str", pair[0], source, f"{where}[{i}][0]"), _scalar("float", pair[1], source, f"{where}[{i}][1]")))
    return tuple(out)


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise _bad(source, prefix or "(top level)", "a JSON object", data)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        where = f"{prefix}{f.name}"
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise _bad(source, where, "present", None)
            continue
        value = data[f.name]
        kind = str(f.type)
        nested = _NESTED.get((cls, f.name))
        if nested is not None:
            if not isinstance(value, list):
                raise _bad(source, where, "a list", value)
            kwargs[f.name] = tuple(_build(nested, v, source, f"{where}[{i}].") for i, v in enumerate(value))
        elif f.name in ("app_top3", "format_top3"):
            kwargs[f.name] = _top3(value, source, where)
        elif kind.startswith("tuple[str"):
            if not isinstance(value, list):
                raise _bad(source, where, "a list of texts", value)
            kwargs[f.name] = tuple(_scalar("str", v, source, f"{where}[{i}]") for i, v in enumerate(value))
        elif kind.startswith("Mapping[str, str]"):
            if not isinstance(value, dict):
                raise _bad(source, where, "an object of texts", value)
            kwargs[f.name] = {str(k): _scalar("str", v, source, f"{where}.{k}") for k, v in value.items()}
        else:
            kwargs[f.name] = _scalar(kind, value, source, where)
    return cls(**kwargs)
