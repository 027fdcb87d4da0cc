"""Liveness for load balancers and the compose health check: the app answers and the database too."""

from flask import Blueprint, jsonify
from sqlalchemy import text

from kernel.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        get_session().exec(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not healthy"; details stay in the logs
        return jsonify({"status": "unavailable", "database": False}), 503
    return jsonify({"status": "ok", "database": True})
