"""Background work for onboarding: telling the applicant what the alliance decided."""

from __future__ import annotations

from celery import shared_task
from flask import current_app, render_template
from flask_babel import force_locale, gettext

from shop.cooperatives.models import Cooperative
from kernel.db import unit_of_work
from workers.celery_app import retry_policy
from workers.notifications.services import (
    Mail, TemporaryMailError, notify_once,
)

KINDS = ("received", "approved", "rejected", "suspended", "reinstated")


def _subject(kind: str, name: str) -> str:
    # Spelled out so the translation catalogue finds every subject.
    subjects = {
        "received": gettext("[nongsan] We received the application of %(name)s", name=name),
        "approved": gettext("[nongsan] %(name)s is approved", name=name),
        "rejected": gettext("[nongsan] The application of %(name)s was not approved", name=name),
        "suspended": gettext("[nongsan] %(name)s is suspended", name=name),
        "reinstated": gettext("[nongsan] %(name)s is reinstated", name=name),
    }
    return subjects[kind]


# Sent once per business key (NotificationService); work lost with its worker is re-sent by the
# outbox sweep (tracked), so the message is acknowledged on receipt.
@shared_task(name="nongsan.cooperatives.send_application_notice", bind=True, acks_late=False, tracked=True, **retry_policy(max_retries=8))
def send_application_notice(self, cooperative_id: int, kind: str, notice_id: int | None = None) -> bool:
    """E-mail the cooperative (or, without an address, a short text through the SMS gateway).
    Keyed by the audit entry of the decision, so a re-run sends nothing twice."""
    if kind not in KINDS:
        return False
    with unit_of_work() as session:
        cooperative = session.get(Cooperative, cooperative_id)
        if cooperative is None:
            return False
        key = f"application:{cooperative_id}:{kind}:{notice_id}"
        base = current_app.config["PUBLIC_BASE_URL"]
        with force_locale("vi"):
            subject = _subject(kind, cooperative.name)
            context = dict(cooperative=cooperative, kind=kind, base_url=base, login_url=f"{base}/login")
            text = render_template("emails/application_notice.txt", **context)
            html = render_template("emails/application_notice.html", **context)
        mail = Mail(to=cooperative.email, subject=subject, text=text, html=html) if cooperative.email else None
        try:
            return notify_once(session, key, mail=mail, phone=cooperative.phone, text=subject + "\n" + text[:500],
                               subject=subject, message_id=f"msg_application_{cooperative_id}_{kind}_{notice_id}")
        except TemporaryMailError as error:
            raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
