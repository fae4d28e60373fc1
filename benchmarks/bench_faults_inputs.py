"""Benchmark: hostile inputs and a killed relabel; nothing of the user's may be lost or used wrongly.

The cases of issue 25 (items 4, 5, 6, 7, 9, 10, 11), each tried ``--n`` times
with random variations, counting failures (target: 0):

* **delete**: ``Project.remove_run(delete_files=True)`` on a random folder:
  a marked run folder holding random user files (``notes.md``,
  ``results.csv``, ``thesis.pdf``) at random depths, an unmarked one, or a
  clean run. Failure: a user file gone, or a clean run not deleted.
* **csv**: ``predict --csv`` / ``evaluate --csv`` aimed at an input image, an
  image name, a file inside the input folder, or the model. Failure: exit
  code other than 2, or any byte of the inputs changed.
* **dataset**: a run's stored split applied to a decoy folder (same names,
  other files; another class; the same files moved). Failure: a decoy used,
  or the moved copy refused, or a resume rewriting the manifest root.
* **relabel kill**: a child moves images between two class folders in a loop
  (its unlink delayed 20 ms, to widen the link-unlink window) and is
  SIGKILLed at a random moment; then the folder is scanned. Failure: an image
  lost, or one file listed in two classes after the scan.
* **class names**: random folder names with line breaks, tabs, edge spaces,
  NFC/NFD twins. Failure: the scan accepts names whose ``labels.txt`` would
  not read back as the same list, or refuses a plain list.
* **run files**: random damage to ``class_names.json`` and ``run_config.json``.
  Failure: anything but a TlStudioError from the readers (run_metadata,
  read_class_names, load_run), or a damaged list read as valid.
* **tf_config**: random mutations of a good ``TF_CONFIG``. Failure: anything
  but a valid role or a ConfigError naming ``TF_CONFIG``; plus lonely workers
  stopped by the time limit, SIGINT and SIGTERM (failure: not exiting 1/130).

Run::

    .venv/bin/python benchmarks/bench_faults_inputs.py [--n 50] [--quick] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _img(path: Path, seed: int, size: int = 8) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size + seed % 5, size), (seed * 37 % 256, 40, 90)).save(path)


def _dataset(root: Path, classes=("ants", "bees"), per_class: int = 4, prefix: str = "", size: int = 8) -> Path:
    for ci, c in enumerate(classes):
        for i in range(per_class):
            _img(root / c / f"{prefix}{c}{i}.png", ci * 10 + i, size)
    return root


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- delete


def case_delete(rng: random.Random, tmp: Path) -> str | None:
    from tlstudio.config import RunConfig, to_json
    from tlstudio.errors import ProjectError
    from tlstudio.project import Project, RunRecord
    from tlstudio.run_folders import RUN_MARKER, marker_text

    run = tmp / "run"
    (run / "logs" / "train").mkdir(parents=True)
    (run / "run_config.json").write_text(to_json(RunConfig()))
    (run / "history.json").write_text("[]")
    (run / "logs" / "train" / "events.out.tfevents.1").write_bytes(b"x")
    kind = rng.choice(["clean", "user files", "no marker"])
    if kind != "no marker":
        (run / RUN_MARKER).write_text(marker_text())
    user = []
    if kind != "clean":
        for _ in range(rng.randint(1, 3)):
            where = rng.choice(["", "logs/", "logs/train/", "export/", "export/model_savedmodel/"])
            path = run / f"{where}{rng.choice(['notes.md', 'results.csv', 'thesis.pdf'])}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"mine")
            user.append(path)
    project = Project.new("p")
    project.runs.append(RunRecord(id="r", run_dir=str(run)))
    try:
        project.remove_run("r", delete_files=True)
    except ProjectError:
        pass
    if any(not p.exists() for p in user):
        return f"{kind}: a user file was deleted"
    if kind == "clean" and run.exists():
        return "a clean marked run was not deleted"
    return None


# --------------------------------------------------------------------------- csv


def case_csv(rng: random.Random, tmp: Path) -> str | None:
    from tlstudio.cli import main as cli_main

    data = _dataset(tmp / "data")
    model = tmp / "model" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"not loaded: the target is refused first")
    images = sorted(str(p) for p in data.rglob("*.png"))
    target = rng.choice([
        rng.choice(images),
        str(tmp / f"out{rng.choice(['.jpg', '.PNG', '.webp', '.tif'])}"),
        str(data / rng.choice(["ants", "bees"]) / "rows.csv"),
        str(data / "rows.csv"),
        str(model),
    ])
    before = _bytes(tmp)
    command = rng.choice(["predict", "evaluate"])
    args = [command, str(model), str(data), "--csv", target]
    if command == "evaluate":
        args[3:3] = ["--split", "all"]
    stderr = sys.stderr
    sys.stderr = open(os.devnull, "w")
    try:
        code = cli_main(args)
    finally:
        sys.stderr.close()
        sys.stderr = stderr
    if code != 2:
        return f"{command} --csv {Path(target).relative_to(tmp)}: exit {code}, expected 2"
    if _bytes(tmp) != before:
        return f"{command} --csv {Path(target).relative_to(tmp)}: the inputs changed"
    return None


# --------------------------------------------------------------------------- dataset


def case_dataset(rng: random.Random, tmp: Path) -> str | None:
    from tlstudio.config import DataConfig
    from tlstudio.data import prepare_data
    from tlstudio.data.manifest import manifest_from_data, prepare_from_manifest
    from tlstudio.errors import DataError

    mine = _dataset(tmp / "mine", classes=("ants", "bees", "wasps"), per_class=5)
    config = DataConfig(root=str(mine), val_fraction=0.3, seed=rng.randint(0, 99))
    manifest = manifest_from_data(prepare_data(config), config)
    kind = rng.choice(["same names, other files", "other files", "another class", "moved copy"])
    other = tmp / "other"
    if kind == "same names, other files":
        _dataset(other, classes=("ants", "bees", "wasps"), per_class=5, size=20)
    elif kind == "other files":
        _dataset(other, classes=("ants", "bees", "wasps"), per_class=5, prefix="x")
    elif kind == "another class":
        shutil.copytree(mine, other)
        _dataset(other, classes=("zebras",), per_class=2)
    else:
        shutil.copytree(mine, other)
    resume = rng.random() < 0.5
    try:
        got = prepare_from_manifest(manifest, DataConfig(root=str(other), val_fraction=0.3, seed=config.seed), assign_new=resume)
    except DataError:
        return "the moved copy was refused" if kind == "moved copy" else None
    if kind != "moved copy":
        return f"{kind}: used ({'resume' if resume else 'evaluate'})"
    if got.manifest.root != manifest.root:
        return "a resume rewrote the manifest root"
    return None


# --------------------------------------------------------------------------- relabel kill

MOVE_CHILD = textwrap.dedent(
    r"""
    import os, sys, time
    import tlstudio.io.move_image as m
    from pathlib import Path
    real = m.os.unlink
    def slow_unlink(path, *a, **k):
        time.sleep(0.02)  # widen the window between link and unlink, where a kill used to leave two names
        return real(path, *a, **k)
    m.os.unlink = slow_unlink
    root = Path(sys.argv[1])
    print("READY", flush=True)
    while True:
        for src in sorted(root.rglob("*.png")):
            given = src.parent.name
            m.move_image(src, m.class_target(src, given, "bees" if given == "ants" else "ants"))
    """
)


def case_relabel_kill(rng: random.Random, tmp: Path) -> str | None:
    from tlstudio.data.scan import scan_folder

    data = _dataset(tmp / "data", per_class=3)
    contents = sorted(p.read_bytes() for p in data.rglob("*.png"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", MOVE_CHILD, str(data)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    for line in proc.stdout:
        if line.startswith("READY"):
            break
    time.sleep(rng.uniform(0.05, 0.6))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    scan = scan_folder(data)
    listed = [p for per_class in scan.files["all"].values() for p in per_class]
    if sorted(Path(p).read_bytes() for p in listed) != contents:
        inodes = {os.stat(p).st_ino for p in listed}
        return f"after the scan {len(listed)} names for {len(contents)} images ({len(inodes)} files)"
    return None


# --------------------------------------------------------------------------- class names


def case_class_names(rng: random.Random, tmp: Path) -> str | None:
    from tlstudio.data.scan import scan_folder
    from tlstudio.errors import DataError

    base = ["ants", "bees", "café", "wasps"]
    names = rng.sample(base, 3)
    hostile = rng.choice(["newline", "cr", "tab", "lead space", "trail space", "nfd twin", "none"])
    i = rng.randrange(len(names))
    if hostile == "newline":
        names[i] = names[i][:2] + "\n" + names[i][2:]
    elif hostile == "cr":
        names[i] += "\r"
    elif hostile == "tab":
        names[i] = names[i][:1] + "\t" + names[i][1:]
    elif hostile == "lead space":
        names.append(" " + names[i])
    elif hostile == "trail space":
        names.append(names[i] + " ")
    elif hostile == "nfd twin":
        names = ["café", unicodedata.normalize("NFD", "café"), "bees"]
    for j, name in enumerate(names):
        _img(tmp / "d" / name / "a.png", j)
    try:
        scan = scan_folder(tmp / "d")
    except DataError:
        return None if hostile != "none" else f"a plain list was refused: {names!r}"
    text = "".join(f"{n}\n" for n in scan.class_names)
    back = [line.strip() for line in text.splitlines() if line.strip()]
    if back != list(scan.class_names) or len({unicodedata.normalize("NFC", n) for n in back}) != len(back):
        return f"{hostile}: labels.txt would not read back: {list(scan.class_names)!r}"
    return None


# --------------------------------------------------------------------------- run files


def case_run_files(rng: random.Random, tmp: Path, run_template: Path) -> str | None:
    from tlstudio.errors import TlStudioError
    from tlstudio.export.exporter import run_metadata
    from tlstudio.io.model_files import read_class_names
    from tlstudio.training import load_run

    run = tmp / "run"
    shutil.copytree(run_template, run)
    names = json.loads((run / "class_names.json").read_text())
    config = json.loads((run / "run_config.json").read_text())
    damage = rng.choice(["duplicate", "dict", "newline", "number", "nfd twin", "model text", "data list", "train null", "epochs text"])
    if damage in ("duplicate", "dict", "newline", "number", "nfd twin"):
        bad = {"duplicate": names[:1] + names[:-1], "dict": {str(i): n for i, n in enumerate(names)},
               "newline": [names[0] + "\nx"] + names[1:], "number": [1] + names[1:],
               "nfd twin": ["café", unicodedata.normalize("NFD", "café")] + names[2:]}[damage]
        (run / "class_names.json").write_text(json.dumps(bad))
    else:
        section, field, value = {"model text": (None, "model", "vgg16"), "data list": (None, "data", []),
                                 "train null": (None, "train", None), "epochs text": ("train", "epochs", "ten")}[damage]
        if section:
            config[section][field] = value
        else:
            config[field] = value
        (run / "run_config.json").write_text(json.dumps(config))
    for reader in (run_metadata, read_class_names, load_run):
        try:
            got = reader(run)
        except TlStudioError:
            continue
        except Exception as exc:  # noqa: BLE001 - what the benchmark counts
            return f"{damage}: {reader.__name__} raised {type(exc).__name__}: {exc}"
        if damage in ("duplicate", "dict", "newline", "number", "nfd twin") and reader is not load_run:
            return f"{damage}: {reader.__name__} used the damaged class list: {got!r}"[:200]
        if damage not in ("duplicate", "dict", "newline", "number", "nfd twin") and reader is run_metadata:
            return f"{damage}: run_metadata used the damaged run_config"
    return None


# --------------------------------------------------------------------------- TF_CONFIG


def _mutate(rng: random.Random) -> object:
    """A TF_CONFIG (object or raw text) that is invalid, except for one choice in twelve left as it is."""
    spec = {"cluster": {"worker": ["hosta:12345", "hostb:12346"]}, "task": {"type": "worker", "index": 1}}
    choice = rng.randrange(12)
    if choice == 0:
        spec["task"]["index"] = rng.choice(["0", "1", True, 1.0, None, -1, 2, [0]])
    elif choice == 1:
        spec["task"]["type"] = rng.choice(["ps", "evaluator", "", None, 0, "Worker"])
    elif choice == 2:
        spec["cluster"]["worker"][rng.randrange(2)] = rng.choice(["hosta", "hosta:", ":1", "h:0", "h:70000", 5, None, "h:x"])
    elif choice == 3:
        spec["cluster"]["worker"] = rng.choice(["hosta:1", [], {}, None, ["h:1", "h:1"]])
    elif choice == 4:
        spec["cluster"][rng.choice(["ps", "evaluator", "chef"])] = ["hostc:1"]
    elif choice == 5:
        spec["cluster"]["chief"] = rng.choice([["hostc:1", "hostd:1"], "hostc:1", []])
    elif choice == 6:
        del spec[rng.choice(["task", "cluster"])]
    elif choice == 7:
        spec[rng.choice(["tasks", "clusters", "extra"])] = {}
    elif choice == 8:
        spec["task"] = rng.choice([None, [], "worker", {}])
    elif choice == 9:
        spec["cluster"] = rng.choice([None, [], "x", {}])
    elif choice == 10:
        return rng.choice(["[]", "1", '"x"', "{not json", "null"])
    return spec


def case_tf_config(rng: random.Random, tmp: Path) -> str | None:
    from tlstudio.errors import ConfigError
    from tlstudio.training.cluster import role

    spec = _mutate(rng)
    good = {"cluster": {"worker": ["hosta:12345", "hostb:12346"]}, "task": {"type": "worker", "index": 1}}
    os.environ["TF_CONFIG"] = spec if isinstance(spec, str) else json.dumps(spec)
    try:
        found = role()
    except ConfigError as exc:
        return None if "TF_CONFIG" in str(exc) and "Received" in str(exc) else f"unclear message: {exc}"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__} for {os.environ['TF_CONFIG']}: {exc}"
    finally:
        del os.environ["TF_CONFIG"]
    if spec != good:
        return f"accepted {json.dumps(spec)}"
    return None if found is not None and found.number == 2 else f"the good TF_CONFIG gave {found}"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def case_lonely_worker(rng: random.Random, tmp: Path, data: Path) -> str | None:
    how = rng.choice(["limit", "SIGINT", "SIGTERM"])
    a, b = _free_ports(2)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               TLSTUDIO_WORKER_WAIT="2" if how == "limit" else "600", TLSTUDIO_CACHE_DIR=str(tmp / "cache"),
               TF_CONFIG=json.dumps({"cluster": {"worker": [f"localhost:{a}", f"localhost:{b}"]}, "task": {"type": "worker", "index": 0}}))
    proc = subprocess.Popen([sys.executable, "-m", "tlstudio", "train", str(data), "--weights", "none", "--out", str(tmp / "run")],
                            cwd=ROOT, env=env, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import threading

    waiting = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            if "waiting up to" in line:
                waiting.set()

    threading.Thread(target=read, daemon=True).start()
    if how != "limit":
        if not waiting.wait(60):  # main said only "waiting for all 2 workers to join", then blocked in TensorFlow
            waiting.set()
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGINT if how == "SIGINT" else signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"{how}: still waiting 60 s after {'the signal' if how != 'limit' else 'its start'}"
    expected = 1 if how == "limit" else 130
    return None if proc.returncode == expected else f"{how}: exit {proc.returncode}, expected {expected}"


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="trials per case (default 50)")
    parser.add_argument("--quick", action="store_true", help="5 trials per case")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = 5 if args.quick else args.n
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="bench-faults-inputs-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(base / "cache")
    os.environ["TLSTUDIO_RUNS_DIR"] = str(base / "runs")
    from tests.support.tiny_model import make_run_dir

    template = make_run_dir(base / "template")
    data = _dataset(base / "shapes", classes=("a", "b"), per_class=4)
    cases = {
        "delete": case_delete,
        "csv": case_csv,
        "dataset": case_dataset,
        "relabel kill": case_relabel_kill,
        "class names": case_class_names,
        "run files": lambda r, t: case_run_files(r, t, template),
        "tf_config": case_tf_config,
        "lonely worker": lambda r, t: case_lonely_worker(r, t, data),
    }
    failures_total = 0
    print(f"{'case':<14} {'trials':>6} {'failures':>8}  first failure")
    for name, case in cases.items():
        trials = n if name != "lonely worker" else max(3, n // 5)
        failures = []
        for i in range(trials):
            tmp = base / f"{name.replace(' ', '_')}-{i}"
            tmp.mkdir()
            result = case(rng, tmp)
            if result:
                failures.append(result)
            shutil.rmtree(tmp, ignore_errors=True)
        failures_total += len(failures)
        print(f"{name:<14} {trials:>6} {len(failures):>8}  {failures[0] if failures else ''}", flush=True)
    shutil.rmtree(base, ignore_errors=True)
    print(f"failures: {failures_total} (target 0)")
    return 1 if failures_total else 0


if __name__ == "__main__":
    sys.exit(main())
