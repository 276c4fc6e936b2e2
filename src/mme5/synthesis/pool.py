"""The image pool: folders, list files and tar shards, de-duplicated by content hash.

Exact duplicates (same bytes) are dropped when the pool is built, so a neighbour search can
never return a copy of the query image. Hashes are cached by (path, size, mtime) in the run's
folder, so a restarted run does not re-read millions of files.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..types import InputError, MissingFileError
from .config import PoolConfig

LIST_SUFFIXES = (".txt", ".lst")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class PoolImage:
    path: Path
    """Absolute path of the image file."""
    sha1: str


@dataclass
class ImagePool:
    images: list[PoolImage]
    root: Path
    """Output rows store image paths relative to this folder."""
    duplicates: int = 0
    """Files dropped because an earlier file had the same bytes."""

    def __len__(self) -> int:
        return len(self.images)

    def relative(self, i: int) -> str:
        return os.path.relpath(self.images[i].path, self.root)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for img in self.images:
            h.update(img.sha1.encode())
        return h.hexdigest()[:16]


def build_pool(config: PoolConfig, work_dir: str | Path) -> ImagePool:
    """Collect, hash and de-duplicate the pool's images; tar members are extracted under
    `work_dir/pool/tar/`, generated images written under `work_dir/pool/generated/`."""
    work = Path(work_dir) / "pool"
    extensions = tuple(e.lower() for e in config.extensions)
    files: list[Path] = []
    for source in config.sources:
        matches = sorted(glob.glob(os.path.expanduser(source))) if glob.has_magic(source) else [source]
        if not matches:
            raise MissingFileError(f"pool.sources: {source!r} matches no file or folder")
        for match in matches:
            files += _expand(Path(match).expanduser().resolve(), extensions, work / "tar")
    if config.generate:
        from .shapes import write_shapes

        files += write_shapes(work / "generated", config.generate)
    if not files:
        raise InputError(
            "the image pool is empty: set pool.sources (folders, .txt lists, .tar shards) or pool.generate"
        )
    cache = _HashCache(work / "hashes.jsonl")
    seen: set[str] = set()
    images: list[PoolImage] = []
    for path in files:
        digest = cache.sha1(path)
        if digest not in seen:
            seen.add(digest)
            images.append(PoolImage(path, digest))
    cache.save()
    if config.image_root:
        root = Path(config.image_root).resolve()
    else:
        root = Path(os.path.commonpath([i.path.parent for i in images]))
    return ImagePool(images, root, duplicates=len(files) - len(images))


def _expand(path: Path, extensions: tuple[str, ...], tar_dir: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
    if not path.is_file():
        raise MissingFileError(f"pool.sources: {path} does not exist")
    name = path.name.lower()
    if name.endswith(TAR_SUFFIXES):
        # one folder per shard: `laion.00000.tar` and `laion.00001.tar`, or two `same.tar` in
        # different folders, often hold the same member names
        shard_id = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        return _extract_tar(path, extensions, tar_dir / f"{path.name}-{shard_id}")
    if name.endswith(LIST_SUFFIXES):
        return _read_list(path)
    if path.suffix.lower() in extensions:
        return [path]
    raise InputError(
        f"pool.sources: {path} is not a folder, a list file ({', '.join(LIST_SUFFIXES)}), "
        f"a tar shard ({', '.join(TAR_SUFFIXES)}) or an image"
    )


def _read_list(path: Path) -> list[Path]:
    """One image path per line (relative to the list file's folder); '#' starts a comment."""
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        p = Path(line).expanduser()
        p = (p if p.is_absolute() else path.parent / p).resolve()
        if not p.is_file():
            raise MissingFileError(f"{path}:{lineno}: image not found: {p}")
        out.append(p)
    return out


def _extract_tar(path: Path, extensions: tuple[str, ...], out_dir: Path) -> list[Path]:
    """Extract the image members once (the 'data' filter refuses absolute paths, '..' and links)."""
    done = out_dir / ".extracted"
    with tarfile.open(path) as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and Path(m.name).suffix.lower() in extensions),
            key=lambda m: m.name,
        )
        if not done.is_file():
            tmp = out_dir.with_name(out_dir.name + ".tmp")
            tar.extractall(tmp, members=members, filter="data")
            (tmp / done.name).write_text(str(len(members)))
            if out_dir.exists():
                raise InputError(f"{out_dir} exists without the .extracted marker; remove it to re-extract {path}")
            tmp.rename(out_dir)  # the folder appears complete or not at all
    return [(out_dir / m.name).resolve() for m in members]


class _HashCache:
    """sha1 of file bytes, remembered by (path, size, mtime_ns)."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.entries: dict[str, tuple[int, int, str]] = {}
        self.dirty = False
        if file.is_file():
            for line in file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.entries[row["path"]] = (row["size"], row["mtime_ns"], row["sha1"])

    def sha1(self, path: Path) -> str:
        st = path.stat()
        hit = self.entries.get(str(path))
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        self.entries[str(path)] = (st.st_size, st.st_mtime_ns, digest)
        self.dirty = True
        return digest

    def save(self) -> None:
        if not self.dirty:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for p, (size, mtime, digest) in self.entries.items():
                fh.write(json.dumps({"path": p, "size": size, "mtime_ns": mtime, "sha1": digest}) + "\n")
        tmp.replace(self.file)
