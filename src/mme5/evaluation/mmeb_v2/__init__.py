"""MMEB-V2 (78 tasks: image, video, visual documents): declarations, loaders, corpus ranking,
the published metrics, score files and the leaderboard JSON. See docs/evaluation.md."""
