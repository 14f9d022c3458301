import os

import pytest

from augcli.io import read_file, sha256, temp_name, write_atomic


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


@pytest.mark.parametrize("size", [0, 1, 5000, 65535, 65536, 65537, 3_000_001])
def test_read_file_returns_every_byte(tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "x.bin").write_bytes(data)
    assert read_file(tmp_path / "x.bin") == data
    with pytest.raises(FileNotFoundError) as info:
        read_file(tmp_path / "absent.jpg")
    assert info.value.filename == str(tmp_path / "absent.jpg")  # what a task's error names


def test_a_short_write_is_completed(tmp_path, monkeypatch):
    real_write, calls = os.write, []

    def short_write(fd, data):  # a signal or a nearly full disk: the kernel takes only part of it
        calls.append(len(data))
        return real_write(fd, bytes(memoryview(data)[:max(1, len(data) // 3)]))

    monkeypatch.setattr(os, "write", short_write)
    write_atomic(tmp_path / "x.bin", b"0123456789" * 100)
    assert (tmp_path / "x.bin").read_bytes() == b"0123456789" * 100
    assert len(calls) > 2


def test_a_forked_child_names_its_temp_files_with_its_own_pid():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the temp name must carry its pid, not the parent's
        os.write(write, temp_name("x.jpg").encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 200).decode() == f".x.jpg.augcli-{pid}.tmp"
    assert temp_name("x.jpg") == f".x.jpg.augcli-{os.getpid()}.tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_pipe_where_a_file_was_is_an_error_at_once_not_a_wait(tmp_path):
    from augcli.errors import ItemError
    from augcli.io import sha256_file

    os.mkfifo(tmp_path / "x.jpg")  # nothing ever writes to it: opening it to read would block forever
    with pytest.raises(ItemError, match=r"not a regular file \(a pipe, socket or device\): remove it or exclude it"):
        read_file(tmp_path / "x.jpg")
    assert sha256_file(tmp_path / "x.jpg") is None


def test_a_file_system_that_reads_short_still_gives_every_byte(tmp_path, monkeypatch):
    data = os.urandom(30_000)
    (tmp_path / "x.jpg").write_bytes(data)
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real_read(fd, min(n, 4096)))  # a FUSE or network mount
    assert read_file(tmp_path / "x.jpg") == data
