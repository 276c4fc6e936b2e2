"""Backbones, pooling, formatting and the Embedder."""
