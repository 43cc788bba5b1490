"""Status-level checks (DESIGN.md §3): the one way views ask who may do what."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from portal.models import StatusLevel


def require_status(minimum: int):
    """Decorator: the signed-in employee needs at least this status level, else 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_status(minimum):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_status = minimum
        return wrapped

    return decorator


require_manager = require_status(StatusLevel.MANAGER)
require_administrator = require_status(StatusLevel.ADMINISTRATOR)


def can(minimum: int) -> bool:
    """For templates: show a menu entry only to those allowed to open it."""
    return current_user.is_authenticated and current_user.has_status(minimum)
