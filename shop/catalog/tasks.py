"""Background work of the catalogue: passing consumers' problem reports on."""

from __future__ import annotations

from celery import shared_task
from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlmodel import select

from shop.catalog.models import Product
from shop.cooperatives.models import Cooperative
from kernel.db import unit_of_work
from workers.celery_app import retry_policy
from workers.notifications.services import Mail, NotificationService, TemporaryMailError, configured_mailer


# Sends once per recipient (NotificationService), so running it again is harmless.
@shared_task(name="nongsan.catalog.send_problem_report", bind=True, acks_late=True, tracked=True, **retry_policy(max_retries=8))
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


def label_pdf_path(job_id: str):
    from pathlib import Path

    return Path(current_app.instance_path) / "labels" / f"{job_id}.pdf"


# Rendering again overwrites the same file: idempotent.
@shared_task(name="nongsan.catalog.render_labels", bind=True, acks_late=True, tracked=True, **retry_policy(max_retries=2))
def render_labels(self, job_id: str) -> str | None:
    """Render a label sheet, recording progress as it goes so the page can show a bar."""
    from datetime import datetime, timezone

    from traceability import gs1, labels
    from traceability.models import LabelJob, UnitRange

    with unit_of_work() as session:
        job = session.get(LabelJob, job_id)
        if job is None or job.status == "done":
            return None
        product = session.exec(select(Product).where(Product.gtin == job.gtin)).first()
        from shop.catalog.models import Batch

        batch = session.exec(select(Batch).where(Batch.product_id == product.id, Batch.lot == job.lot)).first()
        cooperative = session.get(Cooperative, product.cooperative_id)
        unit_range = None
        if job.serialised:
            unit_range = session.exec(
                select(UnitRange).where(UnitRange.gtin == job.gtin, UnitRange.lot == job.lot).order_by(UnitRange.id.desc())  # type: ignore[union-attr]
            ).first()
        job.status = "running"
        details = dict(name=product.name, harvest=batch.harvest_date, cooperative=cooperative.name,
                       preset=job.preset, count=job.count, ec=job.error_correction, serialised=job.serialised,
                       start=unit_range.start if unit_range else 1)
    base = current_app.config["PUBLIC_BASE_URL"]
    if details["serialised"]:
        uris = labels.serial_uris(base, job.gtin, job.lot, details["count"], start=details["start"], width=6)
    else:
        uris = (gs1.DigitalLink(gtin=job.gtin, lot=job.lot).uri(base) for _ in range(details["count"]))
    sheet = (labels.LabelData(uri=uri, product_name=details["name"], lot=job.lot, harvest_date=details["harvest"],
                              cooperative_name=details["cooperative"]) for uri in uris)

    def progress(done: int, total: int) -> None:
        with unit_of_work() as progress_session:
            progress_session.get(LabelJob, job_id).done = done

    layout = labels.get_layout(details["preset"])
    try:
        pdf = labels.render_sheet(sheet, layout, error_correction=details["ec"], progress=progress)
    except Exception as error:  # noqa: BLE001 - the person waiting sees why; the task is not retried
        with unit_of_work() as session:
            failed = session.get(LabelJob, job_id)
            failed.status, failed.error = "failed", str(error)[:300]
        raise
    path = label_pdf_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    first_uri = next(iter(labels.serial_uris(base, job.gtin, job.lot, 1, start=details["start"], width=6))) if details["serialised"] \
        else gs1.DigitalLink(gtin=job.gtin, lot=job.lot).uri(base)
    warning = labels.print_warning(layout, labels.qr_version_for(first_uri, details["ec"]))
    with unit_of_work() as session:
        finished = session.get(LabelJob, job_id)
        finished.status, finished.done, finished.finished_at = "done", details["count"], datetime.now(timezone.utc)
        if warning:
            finished.warning = warning[:300]
    return str(path)
