"""Trust: GS1 identifiers, signed events, the alliance CA and keys, verification, trace pages."""

from flask import Flask, jsonify


def init_app(app: Flask) -> None:
    from kernel.errors import wants_json
    from traceability import gs1
    from traceability.services import TraceabilityError
    from traceability import tasks  # noqa: F401 - registers the beat tasks
    from traceability.views import bp

    def _traceability_error(error: TraceabilityError):
        from flask import render_template

        if wants_json():
            return jsonify({"error": error.message, "field": error.field}), error.status
        return render_template("errors/error.html", status=error.status, message=error.message), error.status

    def _gs1_error(error: gs1.GS1Error):
        return jsonify({"error": error.message, "error_vi": error.message_vi, "field": error.field}), 400

    app.register_error_handler(TraceabilityError, _traceability_error)
    app.register_error_handler(gs1.GS1Error, _gs1_error)
    from traceability.fastpath import ScanFastPath
    from traceability.views import init_limits

    init_limits(app)
    app.wsgi_app = ScanFastPath(app, app.wsgi_app)
    app.register_blueprint(bp)
