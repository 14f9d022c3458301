import os

import pytest

from augcli.io import sha256, write_atomic


def test_write_atomic_creates_folders_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "x.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(os.listdir(target.parent)) == ["x.bin"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"
    write_atomic(target, b"old")

    def no_space(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["x.bin"]


def test_sha256():
    assert sha256(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
