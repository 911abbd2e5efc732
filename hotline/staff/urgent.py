"""The banner on every staff page while an urgent (danger) request waits unclaimed.

A caller who asked for a call because they are in danger must not wait for someone
to open the queue page: whatever page staff are on says so, with the wait.
"""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from hotline.services.casework import urgent_waiting
from hotline.staff import bp


@bp.context_processor
def urgent_banner() -> dict[str, Any]:
    if not current_user.is_authenticated:
        return {"urgent": None}
    return {"urgent": urgent_waiting()}
