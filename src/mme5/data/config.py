"""Typed config of the training data: sources, negatives, image checks, batch composition."""

from __future__ import annotations

from dataclasses import dataclass

from .images import ImageCheck, OnBadImage
from .sources_v2 import SourceWeights


@dataclass(frozen=True)
class SourceConfig:
    """One training source: a hub dataset id or a local file/folder, optionally several subsets."""

    path: str
    """hub id (`intfloat/mmE5-synthetic`), local .jsonl/.parquet/folder, or `toy:shapes`."""
    subsets: tuple[str, ...] = ()
    """hub configs, or sub-folders of a local folder; empty = the path itself."""
    split: str = "train"
    image_root: str | None = None
    """relative image paths resolve here (default: the data file's folder)."""
    max_rows: int | None = None
    """cap per subset: the first rows (the original `num_sample_per_subset`)."""
    weight: float = 1.0
    """share in the mix: 0.5 keeps a seeded half of each subset, 2.0 repeats it twice (with
    `data.source_weights: sample`: the probability weight of drawing this source per block)."""
    name: str | None = None
    builder: str | None = None
    """pair builder for a published layout instead of the training schema: colpali, visrag,
    llava-hound-caption, llava-hound-video-retrieval, llava-hound-qa (mme5.data.sources_v2)."""


@dataclass(frozen=True)
class DataConfig:
    sources: tuple[SourceConfig, ...] = ()
    negative_ratio: int = 3
    check_images: ImageCheck = "exists"
    on_bad_image: OnBadImage = "error"
    same_source_block: int = 0
    """> 0: interleave sources in same-source blocks of this many examples (VLM2Vec uses 64)."""
    source_weights: SourceWeights = "repeat"
    """"repeat": weights repeat or subsample rows; "sample": every row is kept once and each block
    draws its source with probability weight / total until all are used up (VLM2Vec-V2, spec §7)."""
    dedup_positives: bool = True
    num_workers: int = 0
    image_cache_mb: int = 0
    """> 0: keep the processor outputs (pixel tensors) of image items in memory, up to this many MiB
    per data-loader process, so an image seen again in a later epoch is not processed again
    (see `data.prepared_cache`). 0 = process every batch anew."""
