"""Log in and out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user

from shop.accounts.forms import LoginForm
from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.db import get_session
from shop.extensions import limiter

bp = Blueprint("accounts", __name__)

HOME_FOR_ROLE = {
    Role.ALLIANCE_ADMIN: "cooperatives.alliance_home",
    Role.MEMBER: "catalog.backoffice_home",
    Role.PARTNER: "postal.portal_home",
}


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = AccountService(get_session()).authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for(HOME_FOR_ROLE[user.role]))
        form.password.errors.append(gettext("Wrong username or password."))
        return render_template("accounts/login.html", form=form), 401
    status = 400 if form.is_submitted() else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        logout_user()
    flash(gettext("You have logged out."), "info")
    return redirect(url_for("catalog.home"))
