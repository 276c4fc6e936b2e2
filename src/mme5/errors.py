"""The user-input error every stage raises (a module of its own so the lowest layers can raise it)."""

from __future__ import annotations


class InputError(ValueError):
    """An input item cannot be used; the message names the item and what is wrong."""
