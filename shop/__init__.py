"""nongsan web service: the application factory.

`create_app()` reads defaults, then `NONGSAN_*` environment variables, then the overrides a test
passes; extensions are attached and every blueprint is registered here and nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from kernel import config as config_module

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    overrides = dict(overrides or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("NONGSAN_INSTANCE_PATH")
    app = Flask(
        "shop",
        instance_path=str(Path(instance_path).resolve()) if instance_path else str(PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        static_url_path="/static",
    )
    from werkzeug.routing import IntegerConverter

    class BoundedIntConverter(IntegerConverter):
        """Ids in URLs fit the database's integer: a 25-digit id is a 404, not a 500."""

        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = BoundedIntConverter
    app.config.update(config_module.DEFAULTS)
    app.config.from_prefixed_env("NONGSAN")
    app.config.update(overrides)
    config_module.finalize(app.config, Path(app.instance_path))

    from kernel.db import db
    from kernel.extensions import babel, csrf, limiter, login_manager
    from shop.health import bp as health_bp
    from kernel.i18n import init_i18n

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    init_i18n(app, babel)

    import shop.accounts
    import shop.audit
    import shop.catalog
    import shop.cooperatives
    import shop.orders
    import shop.registry
    import shop.insight
    import shop.partner_api
    import kernel.errors
    import kernel.labels
    import traceability
    import workers
    import workers.postal

    kernel.errors.init_app(app)
    kernel.labels.init_app(app)
    app.register_blueprint(health_bp)
    shop.accounts.init_app(app)
    shop.audit.init_app(app)
    shop.cooperatives.init_app(app)
    shop.catalog.init_app(app)
    shop.orders.init_app(app)
    shop.registry.init_app(app)
    shop.insight.init_app(app)
    traceability.init_app(app)
    workers.init_app(app)
    workers.postal.init_app(app)
    shop.partner_api.init_app(app)
    return app
