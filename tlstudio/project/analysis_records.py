"""The project's records of its last transfer probe and embedding map, so reopening shows them again.

A project keeps one :class:`ProbeRecord` (the ``"probe"`` field of the
``.tlsproj`` file) and one :class:`MapRecord` (``"map"``): the settings the
job ran with, its whole result, when it ran, and the fingerprint of the
dataset's valid files then (:func:`~tlstudio.project.audit_record.dataset_fingerprint`).
The Model page and the Data page's Map tab show a record when the project
opens and say it is stale when the settings or the dataset's files have
changed since (:meth:`ProbeRecord.stale_reason`, :meth:`MapRecord.stale_reason`).
Both are checked field by field when read back; a damaged record is dropped
and the project says so. What the two share (when it ran, the fingerprint,
the settings, the JSON form and its checks) is :class:`CheckedRecord`; each
record adds only its result's reading and writing. Light: no TensorFlow, no Qt.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from tlstudio.api.embed import EmbedConfig, EmbedResult
from tlstudio.api.probe import CutScore, ProbeConfig, ProbeResult
from tlstudio.config import from_dict, to_dict
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.project.audit_record import _Checker


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _same_folder(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def _files_changed(fingerprint: str, now: str) -> bool:
    return bool(fingerprint) and bool(now) and fingerprint != now


def _config(cls: type, value: Any, where: str, check: _Checker) -> Any:
    check.mapping(value, where)
    try:
        return from_dict(cls, dict(value), where)
    except ConfigError as exc:
        check.fail(where, f"the {cls.__name__} settings ({exc})", value)


@dataclass
class CheckedRecord:
    """A project's record of the last run of a job: when, on which files, with which settings, and its result.

    A subclass names its field in the project file (:attr:`KEY`) and its
    config class (:attr:`CONFIG`), and writes and reads its result
    (:meth:`result_dict`, :meth:`read_result`); the rest is here.

    Attributes:
        ran: When it finished, ISO 8601 UTC.
        fingerprint: The dataset's valid files then ("" when unknown).
        config: The settings it ran with.
        result: What it found.
    """

    KEY: ClassVar[str] = ""
    """The record's field in the project file (``"probe"``), and the start of every field path in its messages."""
    CONFIG: ClassVar[type] = type(None)
    """The job's config class, read back with :func:`tlstudio.config.from_dict`."""

    ran: str
    fingerprint: str
    config: Any
    result: Any

    @classmethod
    def of(cls, config: Any, result: Any, fingerprint: str, ran: str = "") -> Any:
        """A record of a job that has just finished (``ran`` now unless given)."""
        return cls(ran or _now(), fingerprint, config, result)

    def files_changed(self, fingerprint_now: str) -> bool:
        """True when the dataset's valid files are known to differ from the record's."""
        return _files_changed(self.fingerprint, fingerprint_now)

    def result_dict(self) -> dict[str, Any]:
        """The result as JSON values."""
        raise NotImplementedError

    @classmethod
    def read_result(cls, r: Mapping[str, Any], check: _Checker) -> Any:
        """The result read back from ``r`` (a mapping), each field checked by ``check``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"ran": self.ran, "fingerprint": self.fingerprint, "config": to_dict(self.config), "result": self.result_dict()}

    @classmethod
    def from_dict(cls, data: Any, path: Any = None) -> Any:
        """Read a record back. Raises :class:`ProjectError` naming the file and the field."""
        check = _Checker(path)
        check.mapping(data, cls.KEY)
        check.text(data.get("ran"), f"{cls.KEY}.ran", empty=False)
        check.text(data.get("fingerprint", ""), f"{cls.KEY}.fingerprint")
        check.mapping(data.get("result"), f"{cls.KEY}.result")
        config = _config(cls.CONFIG, data.get("config"), f"{cls.KEY}.config", check)
        return cls(data["ran"], data.get("fingerprint", ""), config, cls.read_result(data["result"], check))


@dataclass
class ProbeRecord(CheckedRecord):
    """The last transfer probe of a project: its settings and its scores (see :class:`CheckedRecord`)."""

    KEY: ClassVar[str] = "probe"
    CONFIG: ClassVar[type] = ProbeConfig

    config: ProbeConfig
    result: ProbeResult

    def stale_reason(self, fingerprint_now: str) -> str:
        """Why the scores no longer describe the dataset ("" when they do, or when it cannot be told)."""
        if self.files_changed(fingerprint_now):
            return "the dataset's files have changed since"
        return ""

    def result_dict(self) -> dict[str, Any]:
        return self.result.to_json()

    @classmethod
    def read_result(cls, r: Mapping[str, Any], check: _Checker) -> ProbeResult:
        cuts = []
        for n, c in enumerate(check.items(r, "cuts", "probe.result")):
            at = f"probe.result.cuts[{n}]"
            check.mapping(c, at)
            check.text(c.get("layer"), f"{at}.layer", empty=False)
            check.text(c.get("pooling", "avg"), f"{at}.pooling")
            for key in ("cv_accuracy", "cv_std", "features", "depth_index"):
                check.number(c.get(key), f"{at}.{key}")
            by = c.get("by_pooling", {})
            check.mapping(by, f"{at}.by_pooling")
            pairs = []
            for name, scores in by.items():
                check.mapping(scores, f"{at}.by_pooling.{name}")
                check.number(scores.get("cv_accuracy"), f"{at}.by_pooling.{name}.cv_accuracy")
                check.number(scores.get("cv_std"), f"{at}.by_pooling.{name}.cv_std")
                pairs.append((str(name), float(scores["cv_accuracy"]), float(scores["cv_std"])))
            cuts.append(CutScore(c["layer"], float(c["cv_accuracy"]), float(c["cv_std"]), int(c["features"]),
                                 int(c["depth_index"]), c.get("pooling", "avg"), tuple(pairs)))
        for key in ("best", "explanation"):
            check.text(r.get(key, ""), f"probe.result.{key}")
        check.texts(r.get("class_names", []), "probe.result.class_names")
        for key in ("num_images", "folds", "chance", "seconds"):
            check.number(r.get(key, 0), f"probe.result.{key}")
        for key in ("cache_hit", "cancelled"):
            check.boolean(r.get(key, False), f"probe.result.{key}")
        return ProbeResult(tuple(cuts), r.get("best", ""), r.get("explanation", ""), tuple(r.get("class_names", [])),
                           int(r.get("num_images", 0)), int(r.get("folds", 0)), float(r.get("chance", 0.0)),
                           float(r.get("seconds", 0.0)), bool(r.get("cache_hit", False)), bool(r.get("cancelled", False)))


@dataclass
class MapRecord(CheckedRecord):
    """The last embedding map of a project: its settings and its points (coordinates, labels, paths, splits, predictions)."""

    KEY: ClassVar[str] = "map"
    CONFIG: ClassVar[type] = EmbedConfig

    config: EmbedConfig
    result: EmbedResult

    def stale_reason(self, root_now: str, fingerprint_now: str) -> str:
        """Why the map no longer describes the open dataset ("" when it does, or when it cannot be told)."""
        root = self.result.root or self.config.data.root
        if root_now and root and not _same_folder(root, root_now):
            return f"it is a map of {root}"
        if self.files_changed(fingerprint_now):
            return "the dataset's files have changed since"
        return ""

    def result_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "coords": [[round(float(x), 5), round(float(y), 5)] for x, y in np.asarray(r.coords, np.float64)],
            "labels": [int(v) for v in np.asarray(r.labels).reshape(-1)],
            "paths": list(r.paths),
            "splits": list(r.splits),
            "class_names": list(r.class_names),
            "predicted": [int(v) for v in np.asarray(r.predicted).reshape(-1)],
            "predicted_names": list(r.predicted_names),
            "method": r.method,
            "cut": r.cut,
            "seconds": round(float(r.seconds), 3),
            "model_path": r.model_path,
            "prediction_note": r.prediction_note,
            "root": r.root,
        }

    @classmethod
    def read_result(cls, r: Mapping[str, Any], check: _Checker) -> EmbedResult:
        for key in ("paths", "splits", "class_names", "predicted_names"):
            check.texts(r.get(key, []), f"map.result.{key}")
        n = len(r.get("paths", []))
        coords = r.get("coords", [])
        if (not isinstance(coords, list) or len(coords) != n
                or not all(isinstance(p, list) and len(p) == 2 and all(_number(v) for v in p) for p in coords)):
            check.fail("map.result.coords", f"one [x, y] pair of numbers per path ({n})", coords)
        labels, predicted = r.get("labels", []), r.get("predicted", [])
        if not isinstance(labels, list) or len(labels) != n or not all(_whole(v) for v in labels):
            check.fail("map.result.labels", f"one class index per path ({n})", labels)
        if not isinstance(predicted, list) or len(predicted) not in (0, n) or not all(_whole(v) for v in predicted):
            check.fail("map.result.predicted", f"one class index per path ({n}), or none", predicted)
        if len(r.get("splits", [])) != n:
            check.fail("map.result.splits", f"one split per path ({n})", r.get("splits"))
        for key in ("method", "cut", "model_path", "prediction_note", "root"):
            check.text(r.get(key, ""), f"map.result.{key}")
        check.number(r.get("seconds", 0.0), "map.result.seconds")
        return EmbedResult(
            coords=np.asarray(coords, np.float32).reshape(n, 2), labels=np.asarray(labels, np.int64),
            paths=tuple(r["paths"]), splits=tuple(r["splits"]), class_names=tuple(r.get("class_names", [])),
            predicted=np.asarray(predicted, np.int64), predicted_names=tuple(r.get("predicted_names", [])),
            method=r.get("method", ""), cut=r.get("cut", ""), seconds=float(r.get("seconds", 0.0)),
            model_path=r.get("model_path", ""), prediction_note=r.get("prediction_note", ""), root=r.get("root", ""),
        )


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def read_record(kind: type, data: Mapping[str, Any], key: str, path: Any) -> tuple[Any, str]:
    """``(record, "")`` for ``data[key]``, ``(None, why)`` when damaged, ``(None, "")`` when absent."""
    if data.get(key) is None:
        return None, ""
    try:
        return kind.from_dict(data[key], path), ""
    except ProjectError as exc:
        return None, str(exc)
