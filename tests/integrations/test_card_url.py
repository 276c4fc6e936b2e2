"""The model card and mteb's ModelMeta name the training code only where the installed package
declares where it lives (`[project.urls]`): a real URL or nothing, never a placeholder."""
from __future__ import annotations

import email.message
import importlib.metadata

import pytest

from mme5.integrations.card import build_card
from mme5.integrations.profile import EmbeddingProfile, training_code_url

PROFILE = EmbeddingProfile(backbone="mllama", dim=8, max_length=16)


def _fake_metadata(urls: list[str]):
    def metadata(name: str) -> email.message.Message:
        message = email.message.Message()
        message["Name"] = name
        for url in urls:
            message["Project-URL"] = url
        return message

    return metadata


@pytest.mark.parametrize("urls, expected", [
    ([], None),
    (["Documentation, https://docs.example.org"], None),
    (["Homepage, https://example.org", "Source, https://code.example.org/mme5"], "https://code.example.org/mme5"),
    (["Homepage, https://example.org"], "https://example.org"),
])
def test_card_names_the_declared_training_code_or_none(monkeypatch, urls, expected):
    monkeypatch.setattr(importlib.metadata, "metadata", _fake_metadata(urls))
    assert training_code_url() == expected
    card = build_card(PROFILE, target="hf")
    body = card.split("---")[2]
    if expected is None:
        assert "training code" not in body
    else:
        assert f"(training code: {expected})" in body
    assert "github.com/mme5/mme5" not in card


def test_missing_distribution_means_no_url(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "metadata", missing)
    assert training_code_url() is None
