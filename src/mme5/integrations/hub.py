"""`--push-to-hub`: create the repository (if needed) and upload the exported folder, model card included."""

from __future__ import annotations

import re
from pathlib import Path

from ..types import InputError

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def push_to_hub(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False) -> str:
    """Upload every file of `folder` to `repo_id` (a model repository); returns the repository URL."""
    from huggingface_hub import HfApi

    if not REPO_ID.match(repo_id):
        raise InputError(f"--push-to-hub {repo_id!r}: expected a repository id like owner/name")
    folder = Path(folder)
    if not (folder / "README.md").is_file() or not (folder / "config.json").is_file():
        raise InputError(f"{folder} is not a finished export (README.md and config.json are expected)")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message="Upload mme5 export (weights, processor, mme5_embedding.json, model card)",
    )
    return str(url)
