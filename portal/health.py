"""GET /healthz for the load balancer: 200 when the database answers, 503 when it does not.

No details either way (no versions, no error text): the answer is public."""
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.warning("Health check: the database is not reachable")
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")
