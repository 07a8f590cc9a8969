"""The SMS channel is chosen by setting; the default log channel sends nothing and leaks no number."""

from __future__ import annotations

import logging

import pytest

from services.common.settings import NotificationSettings
from services.notification.connectors.sms import HttpSmsConnector, LogSmsConnector
from services.notification.domain.ports import SmsRequest
from services.notification.main import sms_connector


async def test_the_log_channel_records_the_message_with_the_number_masked(caplog: pytest.LogCaptureFixture) -> None:
    channel = sms_connector(NotificationSettings())
    assert isinstance(channel, LogSmsConnector)
    request = SmsRequest(
        message_id="m-1",
        phone_e164="+8613800138000",
        sign_name="某某农商银行",
        template_code="SMS_LOAN_OVERDUE",
        text="尊敬的王建国，您的贷款已逾期5天。",
    )
    with caplog.at_level(logging.INFO, logger="services.notification.connectors.sms"):
        result = await channel.send(request)
    assert result.gateway_message_id == "log-m-1"
    [record] = caplog.records
    assert "尊敬的王建国" in record.getMessage() and "SMS_LOAN_OVERDUE" in record.getMessage()
    assert "13800138000" not in record.getMessage()


def test_the_http_channel_needs_the_gateway_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_CONNECTOR", "http")
    with pytest.raises(ValueError, match="GRANARY_NOTIFICATION_SMS_GATEWAY_URL"):
        sms_connector(NotificationSettings())
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_GATEWAY_URL", "http://sms-gateway.internal/send")
    assert isinstance(sms_connector(NotificationSettings()), HttpSmsConnector)
