"""The one atomic writer: content lands whole, failures leave no temporary and the old file intact."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tlstudio.io import atomic
from tlstudio.io.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text, remove_stale_temps

ROOT = Path(__file__).resolve().parents[3]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_bytes_text_and_json_are_written_with_no_temporary_left(tmp_path):
    assert atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01\x02") == tmp_path / "a.bin"
    atomic_write_bytes(tmp_path / "chunks.bin", (bytes([i]) * 3 for i in range(4)))
    atomic_write_text(tmp_path / "b.txt", "héllo\nwörld\n")
    atomic_write_json(tmp_path / "c.json", {"x": [1, 2.5, float("nan")], "when": object()}, default=lambda o: "obj")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01\x02"
    assert (tmp_path / "chunks.bin").read_bytes() == b"\x00\x00\x00\x01\x01\x01\x02\x02\x02\x03\x03\x03"
    assert (tmp_path / "b.txt").read_bytes() == "héllo\nwörld\n".encode("utf-8")
    text = (tmp_path / "c.json").read_text(encoding="utf-8")
    assert text.endswith("}\n") and '\n  "x": [' in text
    assert json.loads(text)["when"] == "obj"
    assert _names(tmp_path) == ["a.bin", "b.txt", "c.json", "chunks.bin"]


def test_overwrite_replaces_the_content(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old content that is longer")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert _names(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("error", [RuntimeError("disk went away"), KeyboardInterrupt()])
def test_exception_mid_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, error):
    target = tmp_path / "result.json"
    target.write_text("old")

    def chunks():
        yield b"new part one, "
        raise error

    with pytest.raises(type(error)):
        atomic_write_bytes(target, chunks())
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["result.json"]


def test_failed_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "project.tlsproj"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["project.tlsproj"]


def test_unserialisable_json_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"a": object()})
    assert _names(tmp_path) == []


def test_target_in_a_folder_and_a_missing_folder(tmp_path):
    nested = tmp_path / "runs" / "2026-01-01"
    nested.mkdir(parents=True)
    atomic_write_text(nested / "history.json", "[]")
    assert _names(nested) == ["history.json"]
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "missing" / "x.txt", "x")
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_new_files_get_the_umask_mode_and_existing_files_keep_theirs(tmp_path):
    fresh = atomic_write_text(tmp_path / "fresh.txt", "x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600

    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    atomic_write_text(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640

    with atomic_path(kept) as tmp:
        tmp.write_text("newer")
    assert kept.read_text() == "newer" and stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_atomic_path_keeps_the_suffix_writers_choose_their_format_from(tmp_path):
    seen = []
    for name in ("model.keras", "best.weights.h5", "feats.npy", "model_savedmodel"):
        with atomic_path(tmp_path / name) as tmp:
            seen.append(tmp)
            assert tmp.parent == tmp_path and tmp.name.startswith(f".{name}.tmp-") and not tmp.exists()
            tmp.write_bytes(b"data")
    assert [t.name.endswith(s) for t, s in zip(seen, (".keras", ".weights.h5", ".npy", ""))] == [True] * 4
    with atomic_path(tmp_path / "x.bin", suffix=".h5") as tmp:
        assert tmp.name.endswith(".h5")
        tmp.write_bytes(b"h5")
    assert _names(tmp_path) == ["best.weights.h5", "feats.npy", "model.keras", "model_savedmodel", "x.bin"]


def test_atomic_path_failure_removes_a_half_written_file_or_folder(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old model")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"PK half a zip")
            raise KeyboardInterrupt
    folder = tmp_path / "model_savedmodel"
    with pytest.raises(RuntimeError):
        with atomic_path(folder) as tmp:
            (tmp / "variables").mkdir(parents=True)
            (tmp / "saved_model.pb").write_bytes(b"partial")
            raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"old model"
    assert _names(tmp_path) == ["model.keras"]


def test_atomic_path_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"x\.keras: the writer produced nothing.*Received: no file"):
        with atomic_path(tmp_path / "x.keras"):
            pass
    assert _names(tmp_path) == []


def test_a_folder_is_replaced_whole(tmp_path):
    folder = tmp_path / "model_savedmodel"
    (folder / "variables").mkdir(parents=True)
    (folder / "old_only.txt").write_text("old")
    with atomic_path(folder) as tmp:
        (tmp / "variables").mkdir(parents=True)
        (tmp / "saved_model.pb").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["saved_model.pb", "variables"]
    assert _names(tmp_path) == ["model_savedmodel"]


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path):
    (tmp_path / ".model.keras.tmp-abcd1234.keras").write_bytes(b"half")
    (tmp_path / ".model.keras.tmp-ffff0000").mkdir()
    (tmp_path / ".other.keras.tmp-abcd1234.keras").write_bytes(b"not ours")
    removed = remove_stale_temps(tmp_path / "model.keras")
    assert sorted(p.name for p in removed) == [".model.keras.tmp-abcd1234.keras", ".model.keras.tmp-ffff0000"]
    assert _names(tmp_path) == [".other.keras.tmp-abcd1234.keras"]


_KILLED_WRITER = r"""
import sys, time
from tlstudio.io.atomic import atomic_write_bytes

target, mode = sys.argv[1], sys.argv[2]
size = 1 << 20
if mode == "slow":  # one write of 64 MiB in 1 MiB chunks, announced after the first chunk
    def chunks():
        for i in range(64):
            yield b"N" * size
            if i == 0:
                print("writing", flush=True)
            time.sleep(0.01)
    atomic_write_bytes(target, chunks())
else:  # rewrite the whole file as fast as it can, alternating its content
    print("writing", flush=True)
    i = 0
    while True:
        atomic_write_bytes(target, (b"BC"[i % 2 : i % 2 + 1] * size for _ in range(8)), fsync=False)
        i += 1
"""


def _run_and_kill(target: Path, mode: str, delay: float) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target), mode], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_mid_write_leaves_the_old_content_whole(tmp_path):
    target = tmp_path / "weights.bin"
    old = b"O" * (8 << 20)
    target.write_bytes(old)
    _run_and_kill(target, "slow", 0.05)
    assert target.read_bytes() == old
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert leftovers and all(p.name.startswith(".weights.bin.tmp-") for p in leftovers)
    remove_stale_temps(target)
    assert _names(tmp_path) == ["weights.bin"]


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_during_rewrites_leaves_old_or_new_never_partial(tmp_path):
    target = tmp_path / "data.bin"
    size = 8 << 20
    target.write_bytes(b"A" * size)
    _run_and_kill(target, "loop", 0.4)
    data = target.read_bytes()
    assert len(data) == size and data in (b"A" * size, b"B" * size, b"C" * size)
