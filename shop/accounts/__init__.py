"""Accounts, roles and permissions."""

from flask import Flask
from flask_babel import lazy_gettext as _l

from kernel.extensions import login_manager


def init_app(app: Flask) -> None:
    from shop.accounts import tasks  # noqa: F401 - registers the invitation task
    from shop.accounts.services import AccountService
    from shop.accounts.views import bp
    from kernel.db import get_session

    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load_user(session_id: str):
        return AccountService(get_session()).load(session_id)

    app.register_blueprint(bp)
