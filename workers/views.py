"""The alliance console's list of work that gave up: webhook deliveries and failed tasks."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from kernel.permissions import requires
from kernel.db import get_session
from workers.deadletters import DeadLetters

bp = Blueprint("workers", __name__)


@bp.get("/alliance/dead-letters")
@requires("alliance:console:read")
def dead_letters():
    page = DeadLetters(get_session()).page()
    can_retry = "alliance:work:retry" in current_user.permissions
    return render_template("workers/dead_letters.html", page=page, form=FlaskForm(), can_retry=can_retry)


@bp.post("/alliance/dead-letters")
@requires("alliance:work:retry")
def act_on_dead_letter():
    """One button: retry a webhook delivery (delivery_id), or retry / close a failed task
    (task_failure_id with action=retry|resolve)."""
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".dead_letters"), 303)
    dead_letters = DeadLetters(get_session())
    if request.form.get("delivery_id"):
        done = dead_letters.retry_delivery(request.form["delivery_id"][:40])
        message = gettext("Delivery queued again.")
    else:
        failure_id = request.form.get("task_failure_id", type=int)
        action = request.form.get("action", "retry")
        # Ids beyond the database's integer are no row at all (and would overflow the query).
        if failure_id is None or not 0 < failure_id < 2**31 or action not in ("retry", "resolve"):
            abort(400)
        if action == "retry":
            done, message = dead_letters.tasks.retry(failure_id), gettext("Task queued again.")
        else:
            done, message = dead_letters.tasks.resolve(failure_id), gettext("Task marked as resolved.")
    if done is None:
        flash(gettext("This item was already dealt with."), "error")
    else:
        flash(message, "success")
    return redirect(url_for(".dead_letters"), 303)
