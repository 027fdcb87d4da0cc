"""Insight: the classification of cooperatives, the alliance's dashboard and the monthly report."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.insight import tasks  # noqa: F401 - registers the roll-up task
    from shop.insight.services import grade_label
    from shop.insight.views import bp, format_cell

    # Globals rather than a context processor: the score macros are imported without context.
    app.jinja_env.globals.update(grade_label=grade_label, format_cell=format_cell)
    app.register_blueprint(bp)
