"""E-mail delivery behind one small interface, chosen by configuration.

With `NONGSAN_SMTP_HOST` set, mail goes to that SMTP server. Without it (the laptop default) each
message is written as an .eml file under the instance folder, so nothing is lost and a person can
open it. Errors are split into temporary (retry later) and permanent (do not retry).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from flask import current_app


class MailError(Exception):
    pass


class TemporaryMailError(MailError):
    """Worth retrying: the server is unreachable or answered 4xx."""


class PermanentMailError(MailError):
    """Retrying cannot help: the server answered 5xx (bad address, refused)."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    def send(self, mail: Mail) -> str: ...


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="nongsan.local")
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


class SMTPMailer:
    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, mail: Mail) -> str:
        message = build_message(mail, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(500 <= code < 600 for code in codes):
                raise PermanentMailError(str(error)) from error
            raise TemporaryMailError(str(error)) from error
        except smtplib.SMTPResponseException as error:
            if 500 <= error.smtp_code < 600:
                raise PermanentMailError(f"{error.smtp_code} {error.smtp_error!r}") from error
            raise TemporaryMailError(f"{error.smtp_code} {error.smtp_error!r}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise TemporaryMailError(str(error)) from error
        return str(message["Message-ID"])


class FileMailer:
    def __init__(self, folder: Path, sender: str) -> None:
        self.folder, self.sender = folder, sender

    def send(self, mail: Mail) -> str:
        message = build_message(mail, self.sender)
        self.folder.mkdir(parents=True, exist_ok=True)
        message_id = str(message["Message-ID"])
        name = message_id.strip("<>").replace("@", "_").replace("/", "_")
        (self.folder / f"{name}.eml").write_bytes(message.as_bytes())
        return message_id


def configured_mailer() -> Mailer:
    config = current_app.config
    if config.get("SMTP_HOST"):
        return SMTPMailer(
            config["SMTP_HOST"],
            int(config["SMTP_PORT"]),
            config["MAIL_FROM"],
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            starttls=bool(config.get("SMTP_STARTTLS")),
            timeout=float(config["SMTP_TIMEOUT"]),
        )
    return FileMailer(Path(current_app.instance_path) / "mail", config["MAIL_FROM"])


class NotificationService:
    """Sends a mail once per business key and records the outcome."""

    def __init__(self, session, mailer: Mailer) -> None:
        self.session = session
        self.mailer = mailer

    def already_sent(self, key: str) -> bool:
        from sqlmodel import select

        from workers.notifications.models import Notification

        return self.session.exec(select(Notification.id).where(Notification.key == key)).first() is not None

    def send_once(self, key: str, mail: Mail) -> bool:
        """Send unless done before. Temporary errors propagate (the task retries them);
        permanent ones are recorded as failed and not retried."""
        from workers.notifications.models import Notification

        if self.already_sent(key):
            return False
        try:
            self.mailer.send(mail)
            status, error = "sent", None
        except PermanentMailError as failure:
            status, error = "failed", str(failure)[:500]
        self.session.add(Notification(key=key, recipient=mail.to, subject=mail.subject, status=status, error=error))
        self.session.flush()
        return status == "sent"


def send_text_once(session, adapter: MessageAdapter, *, key: str, message_id: str, to: str, text: str,
                   subject: str) -> bool:
    """One SMS/Zalo text per business key, recorded like a mail. Temporary errors propagate (the
    task retries them); a permanent refusal is recorded as failed. `subject` is what the record
    keeps of the text: callers leave out anything secret, such as an invitation link."""
    from sqlmodel import select

    from workers.notifications.models import Notification

    if session.exec(select(Notification.id).where(Notification.key == key)).first():
        return False
    try:
        adapter.send(message_id, to, text)
        status, error = "sent", None
    except PermanentMailError as failure:
        status, error = "failed", str(failure)[:500]
    session.add(Notification(key=key, channel="sms", recipient=to, subject=subject[:300], status=status, error=error))
    session.flush()
    return status == "sent"


def notify_once(session, key: str, *, mail: Mail | None = None, phone: str | None = None, text: str = "",
                subject: str = "", message_id: str = "") -> bool:
    """One notice per business key: the e-mail when there is one, else a text to `phone` through
    the SMS/Zalo gateway when one is configured. Temporary errors propagate for the task to retry."""
    if mail is not None:
        return NotificationService(session, configured_mailer()).send_once(key, mail)
    adapter = configured_message_adapter()
    if adapter is None or not phone:
        return False
    return send_text_once(session, adapter, key=key, message_id=message_id, to=phone, text=text, subject=subject)


class MessageAdapter:
    """SMS or Zalo through a generic outgoing webhook: nongsan POSTs {"to", "text"} signed the
    Standard Webhooks way to the URL in NONGSAN_MESSAGE_WEBHOOK_URL; a gateway the alliance runs
    turns it into an SMS or a Zalo message. 4xx answers are permanent, the rest temporary."""

    def __init__(self, url: str, secrets: list[str], timeout: float = 10) -> None:
        self.url, self.secrets, self.timeout = url, secrets, timeout

    def send(self, message_id: str, to: str, text: str) -> None:
        import json

        import httpx

        from workers import webhooks

        body = json.dumps({"to": to, "text": text}, ensure_ascii=False).encode()
        try:
            response = httpx.post(self.url, content=body, timeout=self.timeout,
                                  headers=webhooks.sign_headers(self.secrets, message_id, body))
        except httpx.HTTPError as error:
            raise TemporaryMailError(str(error)) from error
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise PermanentMailError(f"HTTP {response.status_code}")
        if response.status_code >= 300:
            raise TemporaryMailError(f"HTTP {response.status_code}")


def configured_message_adapter() -> MessageAdapter | None:
    config = current_app.config
    if not config.get("MESSAGE_WEBHOOK_URL"):
        return None
    return MessageAdapter(config["MESSAGE_WEBHOOK_URL"], str(config.get("MESSAGE_WEBHOOK_SECRETS") or "").split())
