"""Corpus -> vector shards -> searchable index, the same code for a thousand items and for 10^8.

`corpus` reads JSONL / parquet / media folders as numbered records; `shards` plans fixed item
ranges (the resume unit) and writes them as parquet; `engines` embeds pending shards in one process
(`ray_engine`: on Ray Data); `ann` chooses, trains and tunes a faiss index type; `sinks` (faiss) and
`lance` (LanceDB) write the index; `build.build_index` chains them; `search.VectorIndex` reads a
built index back (the server and the CLI search through it). `prompts` says which instructions the
corpus and the queries get, `model` what index.json records about the model (and how to load it).
Nothing here imports `serving/`.
"""
