"""The audit log: every administrative and key-management action, who did it, when, and the
values before and after. Entries are only ever added; nothing in the service edits or deletes one."""

from flask import Flask


def init_app(app: Flask) -> None:
    try:
        from shop.audit.views import bp
    except ImportError:  # the read-only console page arrives with its own module
        return
    app.register_blueprint(bp)
