"""Atomic writes: whole files or nothing, readable by others as any new file would be."""

from __future__ import annotations

import os

import pytest

from ssmhub.files import sha256_of, write_atomically, write_text_atomically


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "out.bin"

    def explode(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, explode)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_old_content(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomically(target, "old")
    with pytest.raises(RuntimeError):
        write_atomically(target, lambda f: (_ for _ in ()).throw(RuntimeError("boom")))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_written_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomically(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    data = os.urandom(3 << 20)  # spans several read blocks
    (tmp_path / "blob").write_bytes(data)
    assert sha256_of(tmp_path / "blob") == hashlib.sha256(data).hexdigest()
