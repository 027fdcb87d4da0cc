import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from tests.live import MailSink, free_port
from workers.notifications.models import Notification
from workers.notifications.services import (
    Mail, NotificationService, PermanentMailError, SMTPMailer, TemporaryMailError,
)


@pytest.fixture
def smtp():
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


MAIL = Mail(to="htx@example.vn", subject="Đơn hàng mới NS-TEST", text="Xin chào", html="<p>Xin chào</p>")


def test_mail_goes_out_with_text_and_html_parts(smtp):
    sink, port = smtp
    SMTPMailer("127.0.0.1", port, "nongsan <no-reply@nongsan.test>").send(MAIL)
    [message] = sink.messages
    assert message["Subject"] == "Đơn hàng mới NS-TEST"
    assert message.get_body(("plain",)).get_content().strip() == "Xin chào"
    assert message.get_body(("html",)) is not None


def test_smtp_4xx_is_temporary_and_5xx_permanent(smtp):
    sink, port = smtp
    mailer = SMTPMailer("127.0.0.1", port, "no-reply@nongsan.test")
    sink.reject_with = "451 4.3.0 try again later"
    with pytest.raises(TemporaryMailError):
        mailer.send(MAIL)
    sink.reject_with = "550 5.1.1 no such user"
    with pytest.raises(PermanentMailError):
        mailer.send(MAIL)


def test_unreachable_server_is_temporary():
    with pytest.raises(TemporaryMailError):
        SMTPMailer("127.0.0.1", free_port(), "no-reply@nongsan.test", timeout=2).send(MAIL)


def test_notification_is_sent_once_and_permanent_failures_are_recorded(smtp, session):
    sink, port = smtp
    service = NotificationService(session, SMTPMailer("127.0.0.1", port, "no-reply@nongsan.test"))
    assert service.send_once("new_order:1", MAIL) is True
    assert service.send_once("new_order:1", MAIL) is False
    assert len(sink.messages) == 1
    sink.reject_with = "550 5.1.1 no such user"
    assert service.send_once("new_order:2", MAIL) is False
    failed = session.exec(select(Notification).where(Notification.key == "new_order:2")).one()
    assert failed.status == "failed" and "550" in failed.error
    assert service.send_once("new_order:2", MAIL) is False  # not retried
