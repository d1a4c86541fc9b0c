"""Menu conditions shared by view modules (views never import each other)."""
from __future__ import annotations

from flask_login import current_user

from app.extensions import db
from app.services.access import own_expert
from app.services.expert_status import is_admitted


def expert_is_admitted() -> bool:
    """【继续教育】 and 【专家证书】 show in the menu once the application is approved."""
    if not current_user.is_authenticated:
        return False
    return is_admitted(own_expert(db.session, current_user))
