"""Views, one module per area; ``register_views`` adds them all to the AppBuilder."""
from __future__ import annotations

from typing import Any

from flask import current_app

from app.views import (
    account,
    application,
    audit,
    certificate,
    changes,
    dashboard,
    exports,
    files,
    heartbeat,
    locks,
    registry,
    review,
    settings,
    training,
    training_status,
)
from app.views.base import add_menu_view  # noqa: F401 (the one place views register through)


def register_views(appbuilder: Any) -> None:
    dashboard.register(appbuilder)  # first: 统计分析 leads the staff menu
    registry.register(appbuilder)
    application.register(appbuilder)
    review.register(appbuilder)
    heartbeat.register(current_app._get_current_object())  # a blueprint and its front
    training.register(appbuilder)
    changes.register(appbuilder)
    certificate.register(appbuilder)
    files.register(appbuilder)
    audit.register(appbuilder)
    locks.register(appbuilder)
    account.register(appbuilder)
    exports.register(appbuilder)
    training_status.register(appbuilder)
    settings.register(appbuilder)
