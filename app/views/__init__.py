"""Views, one module per area; ``register_views`` adds them all to the AppBuilder."""
from __future__ import annotations

from typing import Any


def register_views(appbuilder: Any) -> None:
    from app.views import account, registry

    account.register(appbuilder)
    registry.register(appbuilder)
