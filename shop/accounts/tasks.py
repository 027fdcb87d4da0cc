"""Background work for accounts: sending invitation links."""

from __future__ import annotations

from celery import shared_task
from flask import current_app, render_template
from flask_babel import force_locale, gettext

from shop.db import unit_of_work
from workers.celery_app import retry_policy
from workers.notifications.services import (
    Mail, NotificationService, PermanentMailError, TemporaryMailError, configured_mailer, configured_message_adapter,
)


# Sent once per business key (NotificationService); work lost with its worker is re-sent by the
# outbox sweep (tracked), so the message is acknowledged on receipt.
@shared_task(name="nongsan.accounts.send_invitation", bind=True, acks_late=False, tracked=True, **retry_policy(max_retries=8))
def send_invitation(self, invitation_id: int, sealed_token: str) -> bool:
    """Send the link by e-mail or SMS, once. Nothing is sent for an invitation revoked meanwhile."""
    from cryptography.exceptions import InvalidTag
    from sqlmodel import select

    from shop.accounts.invitations import link_key, open_token
    from shop.accounts.models import InvitationStatus, MemberInvitation
    from shop.cooperatives.models import Cooperative
    from workers.notifications.models import Notification

    with unit_of_work() as session:
        invitation = session.get(MemberInvitation, invitation_id)
        if invitation is None or invitation.status != InvitationStatus.PENDING:
            return False
        try:
            token = open_token(link_key(current_app.config["SECRET_KEY"]), invitation_id, sealed_token)
        except (InvalidTag, ValueError):
            return False  # sealed under another secret (rotated): the administrator invites again
        cooperative = session.get(Cooperative, invitation.cooperative_id)
        base = current_app.config["PUBLIC_BASE_URL"]
        link = f"{base}/invite/{token}"
        key = f"invitation:{invitation_id}"
        days = max(1, round((invitation.expires_at - invitation.created_at).total_seconds() / 86400))
        with force_locale("vi"):
            subject = gettext("[nongsan] Invitation to join %(name)s", name=cooperative.name)
            context = dict(cooperative=cooperative, link=link, days=days, expires_at=invitation.expires_at)
            if invitation.channel == "email":
                mail = Mail(to=invitation.recipient, subject=subject, text=render_template("emails/invitation.txt", **context),
                            html=render_template("emails/invitation.html", **context))
            else:
                text = gettext("nongsan: %(name)s invites you to join. Open within %(days)d days: %(url)s",
                               name=cooperative.name, days=days, url=link)
        if invitation.channel == "email":
            try:
                return NotificationService(session, configured_mailer()).send_once(key, mail)
            except TemporaryMailError as error:
                raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
        adapter = configured_message_adapter()
        if adapter is None or session.exec(select(Notification.id).where(Notification.key == key)).first():
            return False
        try:
            adapter.send(f"msg_invitation_{invitation_id}", invitation.recipient, text)
            outcome, error_text = "sent", None
        except PermanentMailError as error:
            outcome, error_text = "failed", str(error)[:500]
        except TemporaryMailError as error:
            raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
        # The subject column records what was sent, minus the link (a live credential).
        session.add(Notification(key=key, channel="sms", recipient=invitation.recipient, subject=subject[:300],
                                 status=outcome, error=error_text))
        return outcome == "sent"
