"""supernode.file_overwrite: a saved notebook's bytes written over its file, with jupyter_server's backup."""

from __future__ import annotations

import errno
import os
import stat

import pytest
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

from supernode import file_overwrite
from supernode.file_overwrite import write_file

OLD = b'{"old": "' + b"o" * 3_000_000 + b'"}\n'
NEW = [b'{"new": "', b"n" * 2_000_000, b'", "small": ', b"1", b"}\n"]


@pytest.fixture(params=[FileContentsManager, AsyncFileContentsManager, AsyncLargeFileManager])
def cm(request, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    return request.param(root_dir=str(root))


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def calls_recorded(monkeypatch) -> list[tuple]:
    """The system calls the writing makes on files (opens with their flags, writes, truncations, syncs)."""
    calls: list[tuple] = []
    real_open, real_writev, real_truncate, real_fsync = os.open, os.writev, os.ftruncate, os.fsync

    def opening(path, flags, *args, **kwargs):
        calls.append(("open", os.path.basename(path), bool(flags & os.O_TRUNC)))
        return real_open(path, flags, *args, **kwargs)

    def writev(fd, buffers):
        calls.append(("writev", sum(len(b) for b in buffers)))
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "writev", writev)
    monkeypatch.setattr(
        os, "ftruncate", lambda fd, size: (calls.append(("ftruncate", size)), real_truncate(fd, size))[1]
    )
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync",)), real_fsync(fd))[1])
    return calls


def test_a_longer_file_is_written_over_cut_to_its_new_length_and_synced(cm, monkeypatch):
    path = os.path.join(cm.root_dir, "n.ipynb")
    with open(path, "wb") as f:
        f.write(OLD)
    os.chmod(path, 0o640)
    inode = os.stat(path).st_ino
    calls = calls_recorded(monkeypatch)
    told = []
    write_file(cm, path, NEW, notify=lambda: told.append(read(path)))
    new = b"".join(NEW)
    assert read(path) == new and told == [new]  # told once the bytes are in, cut to length
    assert os.stat(path).st_ino == inode and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert calls == [("open", "n.ipynb", False), ("writev", len(new)), ("ftruncate", len(new)), ("fsync",)]
    assert sorted(os.listdir(cm.root_dir)) == ["n.ipynb"]  # the backup is gone


def test_a_new_file_is_written_as_the_manager_writes_it(cm):
    ours = os.path.join(cm.root_dir, "ours.ipynb")
    theirs = os.path.join(cm.root_dir, "theirs.ipynb")
    write_file(cm, ours, NEW)
    with cm.atomic_writing(theirs, text=False) as f:
        f.write(b"".join(NEW))
    assert read(ours) == read(theirs)
    assert stat.S_IMODE(os.stat(ours).st_mode) == stat.S_IMODE(os.stat(theirs).st_mode)
    assert sorted(os.listdir(cm.root_dir)) == ["ours.ipynb", "theirs.ipynb"]


def test_a_write_that_fails_halfway_leaves_the_file_as_it_was(cm, monkeypatch):
    path = os.path.join(cm.root_dir, "n.ipynb")
    with open(path, "wb") as f:
        f.write(OLD)
    real_writev = os.writev

    def disk_full(fd, buffers):
        real_writev(fd, [buffers[0][:1000]])  # part of it went in
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "writev", disk_full)
    with pytest.raises(OSError) as failed:
        write_file(cm, path, NEW)
    assert failed.value.errno == errno.ENOSPC
    assert read(path) == OLD
    assert sorted(os.listdir(cm.root_dir)) == ["n.ipynb"]
    # A new file that fails: its own error, not the missing backup's.
    with pytest.raises(OSError) as failed:
        write_file(cm, os.path.join(cm.root_dir, "new.ipynb"), NEW)
    assert failed.value.errno == errno.ENOSPC


def test_a_link_is_written_through_and_stays_a_link(cm):
    target = os.path.join(cm.root_dir, "real.ipynb")
    link = os.path.join(cm.root_dir, "link.ipynb")
    with open(target, "wb") as f:
        f.write(OLD)
    os.symlink("real.ipynb", link)
    write_file(cm, link, NEW)
    assert os.path.islink(link) and read(target) == b"".join(NEW)
    assert sorted(os.listdir(cm.root_dir)) == ["link.ipynb", "real.ipynb"]


def test_the_managers_own_writing_when_atomic_writing_is_off_or_wrapped(cm, monkeypatch):
    path = os.path.join(cm.root_dir, "n.ipynb")
    with open(path, "wb") as f:
        f.write(OLD)

    def not_ours(*args):
        raise AssertionError("written over, where the manager writes its own way")

    monkeypatch.setattr(file_overwrite, "_overwrite", not_ours)
    cm.use_atomic_writing = False  # _simple_writing: truncated, no backup, no fsync
    calls = calls_recorded(monkeypatch)
    write_file(cm, path, NEW)
    assert read(path) == b"".join(NEW)
    assert ("fsync",) not in calls
    cm.use_atomic_writing = True
    seen = []
    real = cm.atomic_writing

    def wrapped(os_path, **kwargs):  # an extension wrapping the instance's atomic_writing is called
        seen.append(os_path)
        return real(os_path, **kwargs)

    cm.atomic_writing = wrapped
    write_file(cm, path, NEW[:1] + [b'"}\n'])
    assert seen == [path] and read(path) == b'{"new": ""}\n'
