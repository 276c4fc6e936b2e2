"""Corpus -> vector shards -> searchable index, the same code for a thousand items and for 10^8.

`corpus` reads JSONL / parquet / image folders as numbered records; `shards` plans fixed item
ranges (the resume unit) and writes them as parquet; `engines` embeds pending shards in one process
or on Ray Data; `ann` chooses, trains and tunes a faiss index type; `lance` is the LanceDB sink;
`build.build_index` chains them.
"""
