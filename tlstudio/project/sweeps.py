"""Where a project keeps its sweeps, so reopening it shows the last one and "Resume" continues it.

A project ``/dir/name.tlsproj`` keeps its sweeps in ``/dir/name.sweeps/``;
an untitled project in the app's cache (``<cache>/sweeps/``). Each sweep is a
folder of its own, never reused by a new sweep::

    name.sweeps/
      sweep-20261130-023512/
        sweep_config.json   the SweepConfig (search space, trials, seed, data, model)
        trials.json         the engine's trials file (tlstudio.analysis.sweep_store), rewritten after every trial

Both files are written atomically (:mod:`tlstudio.io.atomic`; the trials
file by the engine). Plain Python: no Qt, no TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from tlstudio.config import from_dict, to_dict
from tlstudio.errors import ConfigError
from tlstudio.io.atomic import atomic_write_json
from tlstudio.api.sweep import SweepConfig, Trial
from tlstudio.paths import cache_dir

logger = logging.getLogger(__name__)

CONFIG_FILE = "sweep_config.json"
TRIALS_FILE = "trials.json"
TRIALS_FORMAT = "tlstudio-sweep"
"""``format`` of the engine's trials file (:data:`tlstudio.analysis.sweep_store.FORMAT`)."""


@dataclass(frozen=True)
class StoredSweep:
    """A sweep read back from its folder.

    Attributes:
        folder: The sweep's folder.
        config: Its configuration (``trials_file`` pointing into ``folder``).
        trials: The trials saved so far (empty before the first one finished).
    """

    folder: Path
    config: SweepConfig
    trials: tuple[Trial, ...]

    @property
    def scored(self) -> int:
        return sum(1 for t in self.trials if t.ok)

    @property
    def complete(self) -> bool:
        """True when every planned trial ran and scored (a grid of trials=0 is never known complete here)."""
        return self.config.trials > 0 and self.scored >= self.config.trials


def sweeps_folder(project_path: str | Path | None) -> Path:
    """The folder holding the sweeps of the project saved at ``project_path`` (None: untitled)."""
    if not project_path:
        return cache_dir("sweeps")
    path = Path(project_path)
    return path.with_name(path.stem + ".sweeps")


def new_sweep(folder: Path, config: SweepConfig, now: _dt.datetime | None = None) -> SweepConfig:
    """Make a new sweep folder under ``folder``, write ``config`` there and return it with its trials file set."""
    stamp = (now or _dt.datetime.now()).strftime("sweep-%Y%m%d-%H%M%S")
    target = folder / stamp
    n = 1
    while target.exists():  # never reuse a folder: one sweep, one folder
        n += 1
        target = folder / f"{stamp}-{n}"
    target.mkdir(parents=True)
    config = replace(config, trials_file=str(target / TRIALS_FILE))
    atomic_write_json(target / CONFIG_FILE, to_dict(config))
    return config


def read_sweep(folder: Path) -> StoredSweep:
    """Read the sweep in ``folder``.

    Raises:
        ConfigError: a missing or damaged file, naming it, what was expected and ``Received``.
    """
    config_path = folder / CONFIG_FILE
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{config_path}: expected the JSON settings of a sweep. Received: {type(exc).__name__}: {exc}") from None
    config = replace(from_dict(SweepConfig, data, str(config_path)), trials_file=str(folder / TRIALS_FILE))
    trials_path = folder / TRIALS_FILE
    if not trials_path.exists():
        return StoredSweep(folder, config, ())
    try:
        stored = json.loads(trials_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{trials_path}: expected the JSON trials file of a sweep. Received: {type(exc).__name__}: {exc}") from None
    if not isinstance(stored, dict) or stored.get("format") != TRIALS_FORMAT or not isinstance(stored.get("trials"), list):
        raise ConfigError(f"{trials_path}: expected a trials file (format {TRIALS_FORMAT!r} with a 'trials' list). "
                          f"Received: format={stored.get('format') if isinstance(stored, dict) else None!r}")
    trials = tuple(Trial.from_json(t, f"{trials_path}: trials[{i}]") for i, t in enumerate(stored["trials"]))
    return StoredSweep(folder, config, trials)


def last_sweep(folder: Path) -> StoredSweep | None:
    """The newest readable sweep under ``folder`` (by folder name, which starts with its date), or None.

    A damaged newer sweep is logged and passed over, never deleted.
    """
    if not folder.is_dir():
        return None
    for candidate in sorted((p for p in folder.iterdir() if p.is_dir() and p.name.startswith("sweep-")), reverse=True):
        if not (candidate / CONFIG_FILE).exists():
            continue
        try:
            return read_sweep(candidate)
        except ConfigError as exc:
            logger.warning("passing over a damaged sweep: %s", exc)
    return None
