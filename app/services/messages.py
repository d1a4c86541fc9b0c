"""Marks Chinese screen words that services define but the screen translates."""
from __future__ import annotations


def N_(text: str) -> str:  # noqa: N802 - the gettext convention for "mark, don't translate"
    """Marks ``text`` for scripts/i18n_check.py (it must have an English entry); the value
    stays Chinese here, and the template or view passes it through gettext where shown."""
    return text
