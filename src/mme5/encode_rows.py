"""Encode a long list of rows (items, PDF pages) chunk by chunk, so a bad row costs only itself:
progress is counted in rows (pages for a PDF), and a row whose media cannot be used either stops
the run with the rows before it kept (`StoppedAt`), or, with `skip_bad`, is left out and reported.

`mme5 embed` and `mme5 index build` (local engine) use it; the encoder is any `Encoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .types import Encoder, Item

CHUNK_BATCHES = 8
"""Rows per chunk = this many batches: small enough to lose little, large enough to batch well."""


@dataclass(frozen=True)
class BadRow:
    """A row left out: its position, its name (`doc.jsonl:4`, `--pdf #1 page 9`) and why."""

    row: int
    where: str
    reason: str


class StoppedAt(InputError):
    """A bad row stopped the run (no `skip_bad`): `vectors` holds rows 0 .. `done` - 1, already encoded."""

    def __init__(self, message: str, vectors: np.ndarray, done: int) -> None:
        super().__init__(message)
        self.vectors, self.done = vectors, done


def encode_rows(
    encoder: Encoder,
    items: Sequence[Item],
    where: Sequence[str],
    batch_size: int,
    *,
    skip_bad: bool = False,
    unit: str = "item",
    show_progress: bool | None = None,
) -> tuple[np.ndarray, list[int], list[BadRow]]:
    """(vectors of the rows kept, in order; their row numbers; the rows left out). Without
    `skip_bad` the first bad row raises StoppedAt with the vectors of every row before it."""
    from tqdm.auto import tqdm

    chunk = max(1, batch_size * CHUNK_BATCHES)
    parts: list[np.ndarray] = []
    kept: list[int] = []
    bad: list[BadRow] = []
    progress = show_progress if show_progress is not None else len(items) > chunk
    with tqdm(total=len(items), desc="embed", unit=unit, disable=not progress) as bar:
        for start in range(0, len(items), chunk):
            rows = list(range(start, min(len(items), start + chunk)))
            try:
                parts.append(_encode(encoder, items, where, rows, batch_size))
                kept += rows
            except InputError as exc:
                if not skip_bad:
                    done = _stack(parts, encoder)
                    # find the first bad row of the chunk, keeping the good ones before it
                    for row in rows:
                        try:
                            done = np.concatenate([done, _encode(encoder, items, where, [row], 1)])
                        except InputError as first:
                            raise StoppedAt(str(first), done, row) from None
                    raise StoppedAt(str(exc), done, rows[-1] + 1) from None
                for row in rows:  # one at a time: the good rows of the chunk are kept
                    try:
                        parts.append(_encode(encoder, items, where, [row], 1))
                        kept.append(row)
                    except InputError as one:
                        bad.append(BadRow(row, where[row], str(one)))
            bar.update(len(rows))
    return _stack(parts, encoder), kept, bad


def _encode(encoder: Encoder, items: Sequence[Item], where: Sequence[str], rows: list[int], batch_size: int):
    return encoder.encode(
        [items[i] for i in rows], batch_size=batch_size, show_progress=False, where=[where[i] for i in rows]
    )


def _stack(parts: list[np.ndarray], encoder: Encoder) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float32)
