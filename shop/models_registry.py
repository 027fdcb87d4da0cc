"""Imports every table model so that `metadata` knows all tables (for Alembic and tests)."""

from kernel.db import metadata
import shop.accounts.models  # noqa: F401,E402
import kernel.audit.models  # noqa: F401,E402
import kernel.outbox  # noqa: F401,E402
import shop.catalog.models  # noqa: F401,E402
import shop.cooperatives.models  # noqa: F401,E402
import shop.orders.models  # noqa: F401,E402
import shop.registry.models  # noqa: F401,E402
import shop.insight.models  # noqa: F401,E402
import traceability.models  # noqa: F401,E402
import workers.models  # noqa: F401,E402
import workers.notifications.models  # noqa: F401,E402
import workers.postal.models  # noqa: F401,E402

__all__ = ["metadata"]
