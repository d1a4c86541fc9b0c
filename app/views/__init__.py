"""Views, one module per area; ``register_views`` adds them all to the AppBuilder."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext


def add_menu_view(appbuilder: Any, view: Any, name: str, category: str | None = None,
                  **kwargs: Any) -> Any:
    """add_view with the Chinese menu name also used, translated, as its label."""
    if category:  # FAB makes a category named None if passed category=None
        kwargs["category"] = category
        kwargs.setdefault("category_label", lazy_gettext(category))
    return appbuilder.add_view(view, name, label=lazy_gettext(name), **kwargs)


def register_views(appbuilder: Any) -> None:
    from app.views import (
        account,
        application,
        audit,
        certificate,
        changes,
        files,
        locks,
        registry,
        review,
        training,
    )

    registry.register(appbuilder)
    application.register(appbuilder)
    review.register(appbuilder)
    training.register(appbuilder)
    changes.register(appbuilder)
    certificate.register(appbuilder)
    files.register(appbuilder)
    audit.register(appbuilder)
    locks.register(appbuilder)
    account.register(appbuilder)
