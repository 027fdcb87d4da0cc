"""Log in and out; a cooperative's members and the invitations that bring new ones."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user

from shop.accounts.forms import AcceptInvitationForm, InviteForm, LoginForm
from shop.accounts.models import Role
from kernel.permissions import requires
from kernel.errors import ServiceError
from shop.accounts.services import AccountService
from kernel.db import get_session
from kernel.extensions import limiter
from kernel.timeutil import utcnow

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
            session.clear()  # nothing of whoever used this browser before (scan log, tallies) carries over
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
    # The whole session goes: the next person at a shared counter sees none of this user's work.
    # The language choice lives in its own cookie and stays.
    session.clear()
    flash(gettext("You have logged out."), "info")
    return redirect(url_for("catalog.home"))


def _invitations():
    from shop.accounts.invitations import InvitationService, link_key

    config = current_app.config
    return InvitationService(get_session(), link_key=link_key(config["SECRET_KEY"]),
                             valid_days=int(config.get("INVITATION_VALID_DAYS", 7)),
                             sms_available=bool(config.get("MESSAGE_WEBHOOK_URL")))


@bp.route("/htx/members", methods=["GET", "POST"])
@requires("coop:member:invite")
def members():
    """The cooperative's administrator: its members, pending invitations, and a new invitation."""
    service = _invitations()
    form = InviteForm()
    status = 200
    if form.validate_on_submit():
        try:
            invitation = service.invite(current_user.cooperative_id, form.recipient.data, current_user.id)
        except ServiceError as error:
            form.recipient.errors = [error.message]
            status = error.status
        else:
            flash(gettext("Invitation sent to %(recipient)s.", recipient=invitation.recipient), "success")
            return redirect(url_for(".members"), 303)
    elif form.is_submitted():
        status = 400
    return render_template("accounts/members.html", form=form, members=service.members(current_user.cooperative_id),
                           invitations=service.pending(current_user.cooperative_id), now=utcnow()), status


@bp.post("/htx/members/invitations/<int:invitation_id>/revoke")
@requires("coop:member:invite")
def revoke_invitation(invitation_id: int):
    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".members"), 303)
    try:
        _invitations().revoke(current_user.cooperative_id, invitation_id)
    except ServiceError as error:
        return render_template("errors/error.html", status=error.status, message=error.message), error.status
    flash(gettext("The invitation is withdrawn; its link no longer works."), "success")
    return redirect(url_for(".members"), 303)


@bp.post("/htx/members/<int:user_id>")
@requires("coop:member:invite")
def manage_member(user_id: int):
    """Set a new password for a member, or switch the member's account off or on."""
    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".members"), 303)
    accounts = AccountService(get_session())
    action = request.form.get("action", "")
    try:
        if action == "password":
            user = accounts.set_member_password(current_user.cooperative_id, user_id, request.form.get("password", ""),
                                                by_user_id=current_user.id)
            flash(gettext("New password set for %(name)s; their other sessions have ended.", name=user.username), "success")
        elif action in ("deactivate", "activate"):
            user = accounts.set_member_active(current_user.cooperative_id, user_id, action == "activate",
                                              by_user_id=current_user.id)
            flash(gettext("%(name)s can log in again.", name=user.username) if user.is_active
                  else gettext("%(name)s can no longer log in.", name=user.username), "success")
        else:
            from flask import abort

            abort(400)
    except ServiceError as error:
        return render_template("errors/error.html", status=error.status, message=error.message), error.status
    return redirect(url_for(".members"), 303)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def accept_invitation(token: str):
    """Whoever holds the link chooses a username and password and joins the cooperative."""
    service = _invitations()
    try:
        _invitation, cooperative = service.open(token)
    except ServiceError as error:
        return render_template("accounts/invitation_gone.html", message=error.message, status=error.status), error.status
    form = AcceptInvitationForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.accept(token, username=form.username.data, password=form.password.data,
                           display_name=form.display_name.data)
        except ServiceError as error:
            field = form._fields.get(error.field or "")
            if field is None:
                return render_template("accounts/invitation_gone.html", message=error.message, status=error.status), error.status
            field.errors = [error.message]
            status = error.status
        else:
            flash(gettext("Welcome to %(name)s. Log in with your new username.", name=cooperative.name), "success")
            return redirect(url_for(".login"), 303)
    elif form.is_submitted():
        status = 400
    response = render_template("accounts/accept_invitation.html", form=form, cooperative=cooperative)
    return response, status, {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
