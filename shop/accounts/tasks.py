"""Background work for accounts: sending invitation links."""

from __future__ import annotations

from celery import shared_task
from flask import current_app, render_template
from flask_babel import force_locale, gettext

from kernel.db import unit_of_work
from workers.celery_app import retry_policy
from workers.notifications.services import (
    Mail, TemporaryMailError, notify_once,
)


# Sent once per business key (NotificationService); work lost with its worker is re-sent by the
# outbox sweep (tracked), so the message is acknowledged on receipt.
@shared_task(name="nongsan.accounts.send_invitation", bind=True, acks_late=False, tracked=True, **retry_policy(max_retries=8))
def send_invitation(self, invitation_id: int, sealed_token: str) -> bool:
    """Send the link by e-mail or SMS, once. Nothing is sent for an invitation revoked meanwhile."""
    from cryptography.exceptions import InvalidTag

    from shop.accounts.invitations import link_key, open_token
    from shop.accounts.models import InvitationStatus, MemberInvitation
    from shop.cooperatives.models import Cooperative

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
        mail, text = None, ""
        with force_locale("vi"):
            subject = gettext("[nongsan] Invitation to join %(name)s", name=cooperative.name)
            context = dict(cooperative=cooperative, link=link, days=days, expires_at=invitation.expires_at)
            if invitation.channel == "email":
                mail = Mail(to=invitation.recipient, subject=subject, text=render_template("emails/invitation.txt", **context),
                            html=render_template("emails/invitation.html", **context))
            else:
                text = gettext("nongsan: %(name)s invites you to join. Open within %(days)d days: %(url)s",
                               name=cooperative.name, days=days, url=link)
        try:
            # A text's record keeps the subject, not the text: the link in it is a live credential.
            return notify_once(session, key, mail=mail, phone=invitation.recipient, text=text, subject=subject,
                               message_id=f"msg_invitation_{invitation_id}")
        except TemporaryMailError as error:
            raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
