"""Fingerprints follow the bytes of the weights; large-file digests are remembered per file version."""

import shutil

from mme5 import Embedder


def test_fingerprint_sees_every_byte_of_the_weights(tiny_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("MME5_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dirs("qwen2_vl"), copy)
    before = Embedder.from_pretrained(copy, device="cpu").fingerprint
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the middle of a tensor: same size, same head and tail
    weights.write_bytes(bytes(data))
    assert Embedder.from_pretrained(copy, device="cpu").fingerprint != before


def test_large_file_digests_are_remembered(tmp_path, monkeypatch):
    import hashlib
    import os

    from mme5.model.fingerprint import file_digest

    monkeypatch.setenv("MME5_CACHE", str(tmp_path / "cache"))
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(1 << 24) + b"x")
    assert file_digest(big) == hashlib.sha256(big.read_bytes()).hexdigest()
    [memo] = (tmp_path / "cache" / "file-digests").iterdir()
    memo.write_text("remembered")
    assert file_digest(big) == "remembered"  # the same file version is not read again
    big.write_bytes(big.read_bytes() + b"y")  # another version (size and mtime): digested again
    assert file_digest(big) == hashlib.sha256(big.read_bytes()).hexdigest()
    monkeypatch.setenv("MME5_CACHE", str(big))  # a cache that cannot be written: still a digest
    assert file_digest(big) == hashlib.sha256(big.read_bytes()).hexdigest()
