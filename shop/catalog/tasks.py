"""Background work of the catalogue: passing consumers' problem reports on."""

from __future__ import annotations

from celery import shared_task
from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlmodel import select

from shop.catalog.models import Product
from shop.cooperatives.models import Cooperative
from shop.db import unit_of_work
from workers.notifications.services import Mail, NotificationService, TemporaryMailError, configured_mailer


@shared_task(name="nongsan.catalog.send_problem_report", bind=True, max_retries=8)
def send_problem_report(self, report_id: int) -> int:
    from traceability.models import ProblemReport

    sent = 0
    with unit_of_work() as session:
        report = session.get(ProblemReport, report_id)
        if report is None:
            return 0
        product = session.exec(select(Product).where(Product.gtin == report.gtin)).first()
        cooperative = session.get(Cooperative, product.cooperative_id) if product else None
        recipients = [e for e in (cooperative.email if cooperative else None, current_app.config.get("ALLIANCE_EMAIL")) if e]
        notifier = NotificationService(session, configured_mailer())
        for recipient in recipients:
            with force_locale("vi"):
                mail = Mail(
                    to=recipient,
                    subject=gettext("[nongsan] Problem reported: %(name)s, lot %(lot)s", name=product.name if product else report.gtin, lot=report.lot),
                    text=render_template("emails/problem_report.txt", report=report, product=product, cooperative=cooperative,
                                         base_url=current_app.config["PUBLIC_BASE_URL"]),
                )
            try:
                sent += notifier.send_once(f"report:{report_id}:{recipient}", mail)
            except TemporaryMailError as error:
                session.commit()
                raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
    return sent
