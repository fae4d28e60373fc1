"""The ``file:PATH`` weights source: reading Keras weights files within size limits, and loading them by layer name.

Reads ``.h5`` (Keras 2 / legacy), ``.weights.h5`` (Keras 3) and ``.keras``
(zip) files with h5py, checking sizes before reading (:mod:`tlstudio.io.limits`).
h5py and Keras are imported inside the functions.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from tlstudio import compat
from tlstudio.errors import WeightsUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np

logger = logging.getLogger(__name__)


def read_weights_file(path: Path) -> dict[str, list["np.ndarray"]]:
    """Read every layer's weights from a Keras weights file, by layer name.

    Understands Keras 3 ``.weights.h5`` files (``.../vars/0`` groups, the
    layer name in the group's ``name`` attribute) and Keras 2 / legacy ``.h5``
    files (``layer_names`` and ``weight_names`` attributes, also inside a
    full-model file's ``model_weights`` group), and the weights inside a
    ``.keras`` model file. Nested models are flattened: their inner layers are
    listed by their own names.

    Nothing is read whole into memory before it is checked: a ``.keras``
    archive's declared sizes are checked (:func:`tlstudio.io.limits.check_zip`)
    and its weights member is streamed to a temporary file; the total size of
    the file's datasets is checked before any is read, so a compressed "bomb"
    gives a clear error instead of exhausting memory.

    Raises:
        WeightsUnavailableError: missing, unreadable or too large a file.
    """
    import tempfile
    import zipfile

    import h5py

    from tlstudio.io.limits import FileTooLarge, check_h5_total, check_zip, copy_member

    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"Weights file not found: {path}.", path=str(path))
    extracted: Path | None = None
    try:
        if zipfile.is_zipfile(path):  # a .keras model: the weights are one member of the archive
            check_zip(path)
            with zipfile.ZipFile(path) as archive:
                if "model.weights.h5" not in archive.namelist():
                    raise WeightsUnavailableError(f"{path} is a zip archive without model.weights.h5; it is not a .keras model.", path=str(path))
                fd, name = tempfile.mkstemp(prefix="tlstudio-weights-", suffix=".h5")
                os.close(fd)
                extracted = Path(name)
                copy_member(archive, "model.weights.h5", extracted)  # streamed, never whole in memory
            f = h5py.File(extracted, "r")
        else:
            f = h5py.File(path, "r")
        try:
            check_h5_total(f, path)
        except BaseException:
            f.close()
            raise
    except FileTooLarge as exc:
        _remove_quietly(extracted)
        raise WeightsUnavailableError(f"Cannot read weights file {path}: {exc}", path=str(path)) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        _remove_quietly(extracted)
        raise WeightsUnavailableError(
            f"Cannot read weights file {path}: it is not an HDF5 (.h5) or .keras file ({exc}).", path=str(path)
        ) from exc
    except BaseException:
        _remove_quietly(extracted)
        raise
    try:
        return _read_layers(f)
    finally:
        _remove_quietly(extracted)


def _remove_quietly(path: Path | None) -> None:
    """Delete a temporary extracted weights file (ours, in the temp folder)."""
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not delete the temporary weights file %s: %s", path, exc)


def _read_layers(f) -> dict[str, list["np.ndarray"]]:
    """Every layer's arrays of an open weights file, by layer name (closes the file)."""
    import h5py

    layers: dict[str, list] = {}
    with f:
        root = f["model_weights"] if "model_weights" in f and "layer_names" in f["model_weights"].attrs else f
        if "layer_names" in root.attrs:
            _read_legacy_group(root, layers)
        else:
            def visit(name: str, obj) -> None:
                if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars" and len(obj):
                    attr = obj.attrs.get("name")
                    lname = attr.decode() if isinstance(attr, bytes) else attr
                    if not lname:
                        parts = name.split("/")
                        lname = parts[-2] if len(parts) >= 2 else name
                    keys = sorted((k for k in obj.keys() if k.isdigit()), key=int)
                    layers.setdefault(str(lname), [obj[k][()] for k in keys])

            f.visititems(visit)
    return layers


def _read_legacy_group(group, layers: dict[str, list]) -> None:
    for raw in group.attrs["layer_names"]:
        lname = raw.decode() if isinstance(raw, bytes) else str(raw)
        g = group[lname]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])]
        if not names:
            continue
        if "layer_names" in g.attrs:  # a nested model saved by Keras 2
            _read_legacy_group(g, layers)
            continue
        layers.setdefault(lname, [g[n][()] for n in names])


def _short(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    text = ", ".join(names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _pair_auto_named(targets: list, stored: dict[str, list]) -> None:
    """Match layers Keras named by counting (``normalization`` vs ``normalization_1``).

    Such names depend on how many layers of the kind the session built before,
    so a file saved elsewhere rarely has the same ones. A model layer and a file
    layer that are the only unmatched ones sharing a base name are paired
    (``stored`` gets an entry under the model's name).
    """
    names = {l.name for l in targets}

    def base(name: str) -> str:
        return re.sub(r"_\d+$", "", name)

    missing: dict[str, list[str]] = {}
    for layer in targets:
        if layer.name not in stored:
            missing.setdefault(base(layer.name), []).append(layer.name)
    extra: dict[str, list[str]] = {}
    for name in stored:
        if name not in names:
            extra.setdefault(base(name), []).append(name)
    for key, ours in missing.items():
        theirs = extra.get(key, [])
        if len(ours) == 1 and len(theirs) == 1:
            stored[ours[0]] = stored.pop(theirs[0])


def load_weights_by_name(model: "keras.Model", path: Path) -> list[str]:
    """Load ``path`` into the layers of ``model`` that have the same names.

    Layers Keras named by counting (``normalization_3``) also match the one
    file layer with the same base name. Every layer of ``model`` that has weights must find them in the file, with
    the same shapes; layers of the file that ``model`` lacks (a head in a
    full-model file) are ignored.

    Returns:
        The names of the layers that were loaded.

    Raises:
        WeightsUnavailableError: the file is missing, or layers do not match; the
            message names the layers that got nothing, those of the file that did
            not match and any shape mismatches.
    """
    path = Path(path)
    stored = read_weights_file(path)
    targets = [l for l in model.layers if l.weights]
    _pair_auto_named(targets, stored)
    missing = [l.name for l in targets if l.name not in stored]
    shape_errors = []
    for layer in targets:
        arrays = stored.get(layer.name)
        if arrays is None:
            continue
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if want != got:
            shape_errors.append(f"{layer.name} expects {want} but the file has {got}")
    if missing or shape_errors:
        names = {l.name for l in model.layers}
        unmatched = [n for n in stored if n not in names]
        parts = [f"The weights in {path} do not fit the {model.name} backbone."]
        if stored and len(missing) == len(targets):
            parts.append(
                f"None of the {len(stored)} layers in the file matches: the file holds {_short(stored, 4)}; "
                f"the backbone expects {_short(missing, 4)}. Was it saved from another backbone?"
            )
            raise WeightsUnavailableError(" ".join(parts), path=str(path))
        if shape_errors:
            parts.append(f"Shape mismatches: {_short(shape_errors, 4)}.")
        if missing:
            parts.append(f"Layers with no weights in the file: {_short(missing)}.")
        if unmatched:
            parts.append(f"Layers in the file that match nothing: {_short(unmatched)}.")
        if not stored:
            parts.append("The file holds no layer weights at all.")
        raise WeightsUnavailableError(" ".join(parts), path=str(path))
    for layer in targets:
        layer.set_weights(stored[layer.name])
        compat.finalize_layer_state(layer)  # e.g. Normalization, as Keras' own loaders do
    return [l.name for l in targets]
