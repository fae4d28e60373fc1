"""The project file's schema version, and the migrations that bring older files up to it.

``schema_version`` is :data:`SCHEMA_VERSION`. Older files are migrated step by
step by :data:`MIGRATIONS`; a file from a newer tlstudio raises
:class:`~tlstudio.errors.ProjectError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from tlstudio.errors import ProjectError

SCHEMA_VERSION = 1
"""Schema written by this version of tlstudio."""


def _v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v0 (no ``schema_version``) kept one ``config`` dict ({data, model, train}),
    the dataset as ``dataset`` and runs as plain run-folder paths."""
    config = dict(data.get("config") or {})
    dataset = data.get("dataset") or (config.get("data") or {}).get("root", "")
    data_cfg = dict(config.get("data") or {})
    data_cfg["root"] = dataset
    runs = []
    for entry in data.get("runs") or []:
        run_dir = entry if isinstance(entry, str) else (entry or {}).get("dir") or (entry or {}).get("run_dir", "")
        notes = "" if isinstance(entry, str) else str((entry or {}).get("notes", ""))
        runs.append({"id": Path(run_dir).name, "run_dir": run_dir, "status": "unknown", "notes": notes})
    return {
        "schema_version": 1,
        "name": data.get("name", ""),
        "created": data.get("created", ""),
        "dataset": dataset,
        "data": data_cfg,
        "model": dict(config.get("model") or {}),
        "train": dict(config.get("train") or {}),
        "runs": runs,
    }


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}
"""``MIGRATIONS[v]`` turns a schema-``v`` dict into schema ``v + 1``."""


def migrate(data: Mapping[str, Any], path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Bring a project dict from any older schema up to :data:`SCHEMA_VERSION`.

    Raises:
        ProjectError: when the file comes from a newer tlstudio, or its version is unknown.
    """
    where = f"{path} " if path else "the project "
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise ProjectError(f"{where}has an invalid schema_version. Received: {version!r}", path=str(path) if path else None)
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{where}was made by a newer tlstudio (schema {version}); this version reads up to {SCHEMA_VERSION}. "
            "Update tlstudio to open it.",
            path=str(path) if path else None,
        )
    out = dict(data)
    while version < SCHEMA_VERSION:
        try:
            out = MIGRATIONS[version](out)
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            raise ProjectError(
                f"{where}looks like a schema-{version} project but cannot be upgraded: expected its fields to hold "
                f"objects, lists and texts as that schema wrote them. Received: {type(exc).__name__}: {exc}",
                path=str(path) if path else None,
            ) from exc
        version += 1
        out["schema_version"] = version
    return out
