"""Weights files and .keras archives are size-checked before anything is decompressed or loaded."""

import zipfile

import h5py
import numpy as np
import pytest

from tlstudio.backbones import read_weights_file
from tlstudio.errors import ModelFileError, WeightsUnavailableError
from tlstudio.io.limits import LIMIT_ENV, FileTooLarge, check_zip, max_bytes


def _bomb(path, megabytes, member="model.weights.h5"):
    """A zip whose member is `megabytes` MB of zeros (deflate: about 1000x smaller)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("config.json", "{}")
        with archive.open(member, "w", force_zip64=True) as fh:
            block = bytes(1 << 20)
            for _ in range(megabytes):
                fh.write(block)
    return path


def _small_weights(path):
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "dense"
        g.create_dataset("0", data=np.ones((2, 3), np.float32))
        g.create_dataset("1", data=np.zeros((3,), np.float32))
    return path


def test_a_zip_bomb_weights_file_is_refused_by_ratio(tmp_path):
    bomb = _bomb(tmp_path / "bomb.keras", 64)
    assert bomb.stat().st_size < 200_000  # 64 MB of zeros in well under 200 KB
    with pytest.raises(WeightsUnavailableError) as info:
        read_weights_file(bomb)
    message = str(info.value)
    assert str(bomb) in message and "zip bomb" in message and "Received:" in message


def test_a_member_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(LIMIT_ENV, "1")
    archive = tmp_path / "big.keras"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("model.weights.h5", np.random.default_rng(0).bytes(2 << 20))
    with pytest.raises(FileTooLarge, match=r"over the limit of 1.0 MB.*Received: 2,097,152 bytes"):
        check_zip(archive)
    with pytest.raises(WeightsUnavailableError, match="over the limit"):
        read_weights_file(archive)


def test_names_escaping_the_archive_are_refused(tmp_path):
    archive = tmp_path / "evil.keras"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../etc/x", "x")
    with pytest.raises(FileTooLarge, match="points outside the archive"):
        check_zip(archive)


def test_an_h5_whose_compressed_datasets_expand_past_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "packed.weights.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "dense"
        g.create_dataset("0", shape=(1024, 1024, 2), dtype=np.float32, compression="gzip", fillvalue=0)  # 8 MB, tiny on disk
    monkeypatch.setenv(LIMIT_ENV, "4")
    with pytest.raises(WeightsUnavailableError, match=r"would take 8.0 MB of memory, over the limit of 4.0 MB"):
        read_weights_file(path)


def test_good_weights_still_read_from_h5_and_from_a_keras_archive(tmp_path):
    h5 = _small_weights(tmp_path / "w.weights.h5")
    layers = read_weights_file(h5)
    assert [a.shape for a in layers["dense"]] == [(2, 3), (3,)]
    archive = tmp_path / "m.keras"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(h5, "model.weights.h5")
        zf.writestr("config.json", "{}")
    from_zip = read_weights_file(archive)
    np.testing.assert_array_equal(from_zip["dense"][0], layers["dense"][0])


def test_load_model_refuses_a_bomb_before_keras_opens_it(tmp_path, monkeypatch):
    from tlstudio.io import model_files as models

    bomb = _bomb(tmp_path / "bomb.keras", 64)
    (tmp_path / "labels.txt").write_text("a\nb\n")
    opened = []
    monkeypatch.setattr(models, "open_runner", lambda kind, path: opened.append(path))
    with pytest.raises(ModelFileError) as info:
        models.load_model(bomb)
    assert str(info.value).startswith(f"Cannot load {bomb}: it is refused before loading") and not opened


def test_the_limit_setting_is_checked(monkeypatch):
    monkeypatch.setenv(LIMIT_ENV, "-3")
    with pytest.raises(FileTooLarge, match="Received: '-3'"):
        max_bytes()
