"""Typed loaders for every JSON file tlstudio reads back.

A file the app wrote may come back damaged (a crash, a disk error, a hand
edit), or may be a file another program wrote. Every loader here checks the
type and range of each field and raises one
:class:`~tlstudio.errors.ProjectError` whose message names the file, the
field, what was expected and ``Received: ...``; never a raw ``KeyError``,
``TypeError`` or ``UnicodeDecodeError``.

=====================  ======================================================
file                   checked by
=====================  ======================================================
``*.tlsproj``          :func:`check_project` (configs by
                       :func:`tlstudio.config.from_dict`, runs by
                       :func:`check_run_entry`)
``run_config.json``    :func:`check_run_config`
``history.json``       :func:`check_history`
``result.json``        :func:`check_result`
``class_names.json``   :func:`check_class_names`
calculator specs       :func:`load_calc_spec` (the calculator's own
                       :meth:`~tlstudio.shapes.calculator.CalcSpec.from_file`)
=====================  ======================================================

The run folder's loaders (:func:`tlstudio.run_folders.load_run_config`,
:func:`~tlstudio.run_folders.load_history` and
:func:`~tlstudio.run_folders.check_run_folder`, which checks a whole run
folder before a resume or when a project opens) read its files with these
checks. This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from tlstudio.config import RunConfig, from_dict
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.io.class_names import names_problem
from tlstudio.io.json_text import field_with_bad_bytes

METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
"""History values that must be numbers (or null) when present."""

RUN_STATUSES = ("finished", "cancelled", "failed", "unknown", "damaged", "no epoch completed")
"""Values of a run entry's ``status`` in a project file."""

MAX_JSON_BYTES = 256 << 20
"""Largest JSON file read back (a project with thousands of epochs is a few MB)."""


def json_text(value: Any, limit: int = 60) -> str:
    """``value`` as short JSON for a ``Received: ...`` message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """The JSON value in ``path``.

    Args:
        path: The file.
        what: What the file is, for messages (``"project file"``).

    Raises:
        ProjectError: the file cannot be read, is too large, is not UTF-8 or
            is not JSON; the message names the file (and the field holding
            bytes that are not UTF-8).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ProjectError(
                f"{path}: the {what} is too large to be a tlstudio file (limit {MAX_JSON_BYTES >> 20} MB). "
                f"Received: {size:,} bytes",
                path=str(path),
            )
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ProjectError(f"{path}: the {what} does not exist. Received: a missing file", path=str(path)) from exc
    except OSError as exc:
        raise ProjectError(
            f"{path}: the {what} cannot be read ({exc.strerror or exc}). Received: {type(exc).__name__}", path=str(path)
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        field = field_with_bad_bytes(raw)
        raise ProjectError(
            f"{path}: {field + ' ' if field else ''}is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            f"expected the UTF-8 JSON tlstudio writes. Received: {raw[max(0, exc.start - 20): exc.start + 20]!r}",
            path=str(path),
        ) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        if not text.strip():
            received = "an empty file"
        else:
            received = repr(text[:60])
        raise ProjectError(
            f"{path}: the {what} is not valid JSON ({exc}). Received: {received}", path=str(path)
        ) from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fail(path: Any, field: str, expected: str, value: Any) -> ProjectError:
    where = f"{path}: " if path else ""
    return ProjectError(
        f"{where}{field} must be {expected}. Received: {field}={json_text(value)}", path=str(path) if path else None
    )


# --------------------------------------------------------------------------- run files


def check_history(history: Any, path: Any = None, field: str = "history") -> list[dict[str, Any]]:
    """Check a history (one object per epoch) and return it as a list of dicts.

    Args:
        history: The JSON value.
        path: The file it came from, for messages.
        field: Its name in that file (``"runs[2].history"`` in a project).

    Raises:
        ProjectError: naming the entry and field.
    """
    if not isinstance(history, list):
        raise _fail(path, field, "a list of epochs", history)
    out = []
    for n, entry in enumerate(history):
        where = f"{field}[{n}]"
        if not isinstance(entry, dict):
            raise _fail(path, where, 'an object such as {"epoch": 0, "phase": 1, "loss": 0.7}', entry)
        for key in ("epoch", "phase"):
            if key in entry and (not _is_int(entry[key]) or entry[key] < 0):
                raise _fail(path, f"{where}.{key}", "a whole number >= 0", entry[key])
        if "phase" in entry and entry["phase"] not in (1, 2):
            raise _fail(path, f"{where}.phase", "1 or 2", entry["phase"])
        for key in METRIC_KEYS:
            value = entry.get(key)
            if value is not None and not _is_number(value):
                raise _fail(path, f"{where}.{key}", "a number", value)
        out.append(dict(entry))
    return out


def check_metrics(metrics: Any, path: Any, field: str) -> dict[str, float]:
    """A ``{metric: number}`` map (``best_metrics``)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise _fail(path, field, "an object mapping metric names to numbers", metrics)
    for key, value in metrics.items():
        if value is not None and not _is_number(value):
            raise _fail(path, f"{field}.{key}", "a number", value)
    return dict(metrics)


def check_class_names(names: Any, path: Any = None, field: str = "class_names") -> list[str]:
    """A list of class names in label order, kept to the rules of :mod:`tlstudio.io.class_names`.

    Raises:
        ProjectError: not a list, an entry that is not a plain one-line text,
            a name listed twice or two Unicode look-alikes; naming the entry.
    """
    if names is None:
        return []
    if not isinstance(names, list):
        raise _fail(path, field, "a list of class names", names)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise _fail(path, f"{field}[{i}]", "a text", name)
    problem = names_problem(names)
    if problem:
        index, sentence = problem
        where = f"{path}: " if path else ""
        entry = f"{field}[{index}]" if index is not None else field
        raise ProjectError(
            f"{where}{entry}: class names must be distinct one-line texts: {sentence}. Received: {field}={json_text(names)}",
            path=str(path) if path else None,
        )
    return list(names)


def check_run_config(data: Any, path: Any = None, field: str = "") -> RunConfig:
    """A :class:`RunConfig` from its JSON object, every field checked for type and range."""
    try:
        return from_dict(RunConfig, data, field)
    except ConfigError as exc:
        where = f"{path}: " if path else ""
        raise ProjectError(f"{where}{exc}", path=str(path) if path else None) from exc


def check_result(data: Any, path: Any = None) -> dict[str, Any]:
    """The fields of ``result.json`` tlstudio reads back."""
    if not isinstance(data, dict):
        raise _fail(path, "the file", "a JSON object", data)
    check_metrics(data.get("best_metrics"), path, "best_metrics")
    if not isinstance(data.get("monitor", ""), str):
        raise _fail(path, "monitor", "a metric name", data["monitor"])
    check_class_names(data.get("class_names"), path)
    for key in ("epochs_completed",):
        if key in data and (not _is_int(data[key]) or data[key] < 0):
            raise _fail(path, key, "a whole number >= 0", data[key])
    for key in ("cancelled",):
        if key in data and not isinstance(data[key], bool):
            raise _fail(path, key, "true or false", data[key])
    for key in ("error", "model_path"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _fail(path, key, "a text or null", data[key])
    return data


# --------------------------------------------------------------------------- project files


def check_run_entry(entry: Any, path: Any, field: str) -> dict[str, Any]:
    """Check one run entry of a project file and return it with normalised types.

    Raises:
        ProjectError: naming the file, ``runs[N].field``, what was expected and ``Received: ...``.
    """
    if not isinstance(entry, dict):
        raise _fail(path, field, "an object with a 'run_dir'", entry)
    run_dir = entry.get("run_dir")
    if not isinstance(run_dir, str) or not run_dir:
        raise _fail(path, f"{field}.run_dir", "the run folder's path", run_dir)
    for key in ("id", "created", "notes"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise _fail(path, f"{field}.{key}", "a text", entry[key])
    if entry.get("model_path") is not None and not isinstance(entry["model_path"], str):
        raise _fail(path, f"{field}.model_path", "a path or null", entry["model_path"])
    status = entry.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise _fail(path, f"{field}.status", f"one of {', '.join(RUN_STATUSES)}", status)
    if entry.get("config"):
        check_run_config(entry["config"], path, f"{field}.config")
    history = check_history(entry.get("history") or [], path, f"{field}.history")
    check_metrics(entry.get("best_metrics"), path, f"{field}.best_metrics")
    check_class_names(entry.get("class_names"), path, f"{field}.class_names")
    epochs = entry.get("epochs_completed")
    if epochs is not None and (not _is_int(epochs) or epochs < 0):
        raise _fail(path, f"{field}.epochs_completed", "a whole number >= 0", epochs)
    return {**entry, "history": history}


def check_project(data: Mapping[str, Any], path: Any = None) -> None:
    """Check the top level of a (migrated) project dict: name, dataset, stage configs, runs list.

    Run entries are checked one by one with :func:`check_run_entry` by the
    caller, so one damaged run does not block the project.

    Raises:
        ProjectError: naming the file and field.
    """
    from tlstudio.config import DataConfig, ModelConfig, TrainConfig

    for key in ("name", "created", "dataset"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _fail(path, key, "a text", data[key])
    for key, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        value = data.get(key)
        if value is None:
            continue
        try:
            from_dict(cls, value, key)
        except ConfigError as exc:
            where = f"{path}: " if path else ""
            raise ProjectError(f"{where}{exc}", path=str(path) if path else None) from exc
    runs = data.get("runs")
    if runs is not None and not isinstance(runs, list):
        raise _fail(path, "runs", "a list of run entries", runs)
    check_audit_fields(data, path)


def check_audit_fields(data: Mapping[str, Any], path: Any = None) -> None:
    """Check the dataset-audit fields of a project dict (each optional).

    ``label_overrides`` maps an image path to the class name the user gave it;
    ``excluded`` lists image paths, ``audit_dismissed`` finding keys
    (:func:`tlstudio.dataset_decisions.finding_key`).

    Raises:
        ProjectError: naming the file and field.
    """
    overrides = data.get("label_overrides")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise _fail(path, "label_overrides", 'an object such as {"/data/cats/1.jpg": "dogs"}', overrides)
        for key, value in overrides.items():
            if not isinstance(value, str) or not value:
                raise _fail(path, f"label_overrides[{json_text(key)}]", "a class name (a non-empty text)", value)
    for key, what in (("excluded", "an image path"), ("audit_dismissed", 'a finding such as "label:/data/cats/1.jpg"')):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise _fail(path, key, f"a list, each item {what}", value)
        for n, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise _fail(path, f"{key}[{n}]", f"{what} (a non-empty text)", item)


# --------------------------------------------------------------------------- calculator specs


def load_calc_spec(path: str | os.PathLike):
    """A calculator spec file, checked by the calculator itself.

    Returns:
        A :class:`tlstudio.shapes.calculator.CalcSpec`.

    Raises:
        tlstudio.shapes.calculator.CalculatorError: naming the file and field.
    """
    from tlstudio.shapes.calculator import CalcSpec

    return CalcSpec.from_file(path)
