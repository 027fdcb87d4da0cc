"""Turning domain errors into clear HTTP answers.

Services raise `ServiceError` (or a package's own subclass) naming the field at fault; JSON clients
get `{"error": ..., "field": ...}` with a 4xx status, people get the page again with the message.
Nothing a user types may turn into a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException


class ServiceError(Exception):
    """A rule of the domain refused the request. `message` is already translated for the reader."""

    status = 400

    def __init__(self, message: str, field: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/epcis/")) or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
    )


def error_body(message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "field": field}
    body.update(extra)
    return body


def _service_error(error: ServiceError):
    if wants_json():
        return jsonify(error_body(error.message, error.field)), error.status
    return render_template("errors/error.html", status=error.status, message=error.message), error.status


def _http_error(error: HTTPException):
    messages = {
        400: gettext("The request could not be understood."),
        403: gettext("You do not have permission to do this."),
        404: gettext("We could not find that page."),
        405: gettext("That method is not allowed here."),
        410: gettext("This item has been withdrawn."),
        413: gettext("The upload is too large."),
        429: gettext("Too many attempts. Please wait a moment and try again."),
    }
    message = messages.get(error.code or 500, error.description or "")
    if wants_json():
        return jsonify(error_body(message, None)), error.code
    return render_template("errors/error.html", status=error.code, message=message), error.code


def _csrf_error(error):
    message = gettext("Your form expired or was sent from another site. Please reload the page and try again.")
    if wants_json():
        return jsonify(error_body(message, "csrf_token")), 400
    return render_template("errors/error.html", status=400, message=message), 400


def init_app(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
