"""The alliance console (issue 7 grows it): the registry of cooperatives."""

from __future__ import annotations

from flask import Blueprint, render_template

from shop.accounts.permissions import requires
from shop.cooperatives.services import CooperativeService
from shop.db import get_session
from traceability.services import key_service

bp = Blueprint("cooperatives", __name__)


@bp.get("/alliance/")
@requires("alliance:console:read")
def alliance_home():
    session = get_session()
    cooperatives = CooperativeService(session, key_service(session)).all()
    return render_template("cooperatives/alliance_home.html", cooperatives=cooperatives)
