"""Settings from the environment, with documented defaults.

Every service reads the platform settings (``GRANARY_*``) and its own block
(``GRANARY_<SERVICE>_*``). ``granary config`` prints what is in force (secrets hidden),
``granary config --defaults`` the documented table that README.md carries.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

SERVICE_NAMES: tuple[str, ...] = ("customer", "credit", "fieldtask", "notification", "process")
DEFAULT_GRPC_PORTS: dict[str, int] = {
    "customer": 50051,
    "credit": 50052,
    "fieldtask": 50053,
    "notification": 50054,
    "process": 50055,
}


class PlatformSettings(BaseSettings):
    """Settings every process shares."""

    model_config = SettingsConfigDict(env_prefix="GRANARY_", extra="ignore")

    env: Literal["dev", "prod"] = Field(
        "prod", description="`prod` refuses SQLite databases (PostgreSQL only); `granary up` runs as `dev`."
    )
    var_dir: Path = Field(Path("var"), description="Where local runs keep SQLite files, NATS data and logs.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server(s) with JetStream, comma-separated.")
    nats_stream: str = Field("GRANARY", description="JetStream stream holding every event of this installation.")
    nats_subject_prefix: str = Field(
        "granary", description="First token of every event subject; lets installations share a NATS cluster."
    )
    nats_duplicate_window_seconds: int = Field(
        600, description="JetStream de-duplication window for `Nats-Msg-Id` (seconds)."
    )
    jwt_secret: SecretStr = Field(
        SecretStr(""), description="HMAC key signing access tokens and caller identities (required)."
    )
    field_encryption_key: SecretStr = Field(
        SecretStr(""), description="Base64 key (32 bytes) encrypting personal fields such as ID numbers."
    )
    access_token_minutes: int = Field(480, description="Lifetime of an access token issued by the gateway.")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="Trace exporter; `otlp` honours the standard `OTEL_EXPORTER_OTLP_*` variables."
    )
    grpc_deadline_seconds: float = Field(5.0, description="Default deadline of every outgoing gRPC call.")
    shutdown_grace_seconds: float = Field(
        10.0, description="On SIGTERM: how long in-flight calls may finish before the process exits."
    )
    consumer_max_deliveries: int = Field(
        5, description="Deliveries of one event before a failing consumer parks it for an operator (a dependency "
        "that is down is waited for instead)."
    )
    consumer_ack_wait_seconds: float = Field(
        30.0, description="How long JetStream waits for an ack before it redelivers."
    )
    consumer_backoff_seconds: float = Field(
        1.0, description="First retry delay of a failing consumer; doubles per attempt, capped at 60 s."
    )
    relay_interval_seconds: float = Field(
        0.5, description="How often the outbox relay polls when no local commit woke it."
    )
    audit_witness_interval_seconds: float = Field(
        60.0, description="How often each service records its audit chain head in NATS (and at shutdown), so a "
        "truncated chain is detected."
    )
    log_level: str = Field("INFO", description="Python log level.")

    def require_jwt_secret(self) -> str:
        secret = self.jwt_secret.get_secret_value()
        if len(secret) < 32:
            raise RuntimeError(
                "GRANARY_JWT_SECRET must be set to a random value of at least 32 characters"
            )
        return secret


class ServiceSettings(BaseSettings):
    """One service's block: ``GRANARY_<SERVICE>_*``."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field("", description="SQLAlchemy async URL of the service's own database.")
    grpc_host: str = Field("127.0.0.1", description="Address the gRPC server binds (0.0.0.0 in containers).")
    grpc_port: int = Field(0, description="gRPC port the service listens on.")
    address: str = Field("", description="host:port other processes use to reach this service.")

    @classmethod
    def for_service(cls, name: str, platform: PlatformSettings) -> ServiceSettings:
        settings = cls(_env_prefix=f"GRANARY_{name.upper()}_")  # type: ignore[call-arg]
        if not settings.grpc_port:
            settings.grpc_port = DEFAULT_GRPC_PORTS[name]
        if not settings.database_url:
            settings.database_url = f"sqlite+aiosqlite:///{platform.var_dir / (name + '.db')}"
        if not settings.address:
            settings.address = f"127.0.0.1:{settings.grpc_port}"
        return settings


class GatewaySettings(BaseSettings):
    """The REST gateway's block: ``GRANARY_GATEWAY_*``."""

    model_config = SettingsConfigDict(env_prefix="GRANARY_GATEWAY_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, description="HTTP port of the REST API.")
    public_url: str = Field("", description="URL printed for users; defaults to http://host:port.")


class FieldTaskSettings(BaseSettings):
    """The field task service's block: ``GRANARY_FIELDTASK_*``."""

    model_config = SettingsConfigDict(env_prefix="GRANARY_FIELDTASK_", extra="ignore")

    checkin_radius_m: float = Field(
        300.0, description="Check-ins farther than this from the task location are accepted but flagged (metres)."
    )
    evidence_max_bytes: int = Field(
        20 * 1024 * 1024, description="Largest evidence file (photo, audio, document) accepted, in bytes."
    )
    blob_dir: str = Field(
        "", description="Directory of evidence files (content-addressed); defaults to <var>/blobs."
    )
    blob_store: Literal["local", "nats", "s3"] = Field(
        "local", description="Where evidence files are kept: `local` (blob_dir), `nats` (object store), `s3`."
    )
    blob_nats_bucket: str = Field("granary-evidence", description="NATS object store bucket of evidence files.")
    blob_s3_endpoint_url: str = Field(
        "", description="S3-compatible endpoint (e.g. http://minio:9000); empty: the AWS default."
    )
    blob_s3_bucket: str = Field("", description="S3 bucket of evidence files (required when blob_store is s3).")
    blob_s3_region: str = Field("us-east-1", description="S3 region used for request signing.")
    blob_s3_access_key_id: str = Field("", description="S3 access key id; empty: the standard AWS credential chain.")
    blob_s3_secret_access_key: SecretStr = Field(SecretStr(""), description="S3 secret access key.")
    blob_s3_prefix: str = Field("", description="Key prefix of evidence files in the S3 bucket (e.g. fieldtask/).")
    working_hours: str = Field(
        "07:00-20:00", description="Local hours when officers' location pings are recorded."
    )
    timezone: str = Field(
        "Asia/Shanghai", description="Local time zone of working hours and of a day's route or track."
    )
    trajectory_retention_days: int = Field(
        180, description="Days location pings are kept before the purge job deletes them."
    )
    housekeeping_interval_seconds: float = Field(
        60.0, description="How often overdue field tasks are expired and old location pings purged."
    )


class NotificationSettings(BaseSettings):
    """The notification service's channels and protections: ``GRANARY_NOTIFICATION_*``."""

    model_config = SettingsConfigDict(env_prefix="GRANARY_NOTIFICATION_", extra="ignore")

    sms_connector: Literal["log", "http"] = Field(
        "log", description="`log` records SMS locally without sending; `http` posts them to the SMS gateway."
    )
    sms_gateway_url: str = Field("", description="URL the HTTP SMS connector posts each message to.")
    sms_gateway_token: SecretStr = Field(SecretStr(""), description="Bearer token sent to the SMS gateway.")
    sms_timeout_seconds: float = Field(5.0, description="Timeout of one call to the SMS gateway.")
    sms_max_attempts: int = Field(6, description="Sends of one message before a transient failure is final.")
    sms_retry_base_seconds: float = Field(
        30.0, description="First retry delay after a transient SMS failure; doubles per attempt."
    )
    sms_receipt_token: SecretStr = Field(
        SecretStr(""), description="Shared secret the SMS gateway sends with delivery receipts (none: refused)."
    )
    timezone: str = Field("Asia/Shanghai", description="Local time zone of quiet hours and reminders.")
    quiet_hours: str = Field("21:00-08:00", description="Local hours when SMS to customers are held, not sent.")
    limit_per_minute: int = Field(1, description="SMS of one template to one recipient per minute.")
    limit_per_hour: int = Field(5, description="SMS of one template to one recipient per hour.")
    limit_per_day: int = Field(10, description="SMS of one template to one recipient per day.")
    dispatch_interval_seconds: float = Field(
        1.0, description="How often queued, held and retried messages and field tasks are dispatched."
    )
    bureau_url: str = Field("", description="Credit-bureau connector: the bureau's HTTP query endpoint.")
    bureau_timeout_seconds: float = Field(10.0, description="Credit-bureau connector: timeout of one query.")


class ProcessSettings(BaseSettings):
    """The process engine's background work: ``GRANARY_PROCESS_*``."""

    model_config = SettingsConfigDict(env_prefix="GRANARY_PROCESS_", extra="ignore")

    poll_interval_seconds: float = Field(
        0.2, description="How often due timers and service calls are looked for when there was nothing to do."
    )
    job_lease_seconds: float = Field(
        0.0,
        description="A service call in flight is held this long; after a crash it is retried once it lapses. "
        "0: three times GRANARY_GRPC_DEADLINE_SECONDS, at least 15 s; a set value must exceed that deadline.",
    )
    job_max_attempts: int = Field(3, description="Calls of one service task before it becomes an incident.")
    job_retry_base_seconds: float = Field(
        1.0, description="First retry delay of a failed service call; doubles per attempt."
    )

    def job_lease_for(self, deadline_seconds: float) -> float:
        """The lease in force: the setting, or one derived from the calls' deadline."""
        if not self.job_lease_seconds:
            return max(15.0, 3 * deadline_seconds)
        # A lease that lapses while its call may still run would let a second replica call too.
        if self.job_lease_seconds <= deadline_seconds:
            raise RuntimeError(
                f"GRANARY_PROCESS_JOB_LEASE_SECONDS ({self.job_lease_seconds:g}) must exceed "
                f"GRANARY_GRPC_DEADLINE_SECONDS ({deadline_seconds:g})"
            )
        return self.job_lease_seconds


class Settings:
    """Everything one process needs, read once at start-up (never at import)."""

    def __init__(self) -> None:
        self.platform = PlatformSettings()

    @cached_property
    def gateway(self) -> GatewaySettings:
        return GatewaySettings()

    @cached_property
    def notification(self) -> NotificationSettings:
        return NotificationSettings()

    @cached_property
    def process(self) -> ProcessSettings:
        return ProcessSettings()

    def service(self, name: str) -> ServiceSettings:
        if name not in SERVICE_NAMES:
            raise KeyError(f"unknown service {name!r}; expected one of {', '.join(SERVICE_NAMES)}")
        return ServiceSettings.for_service(name, self.platform)


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) rows for every setting, for docs and `granary config`."""
    rows: list[tuple[str, str, str]] = []

    def add(prefix: str, model: type[BaseSettings], defaults: dict[str, str] | None = None) -> None:
        for field_name, info in model.model_fields.items():
            default = (defaults or {}).get(field_name)
            if default is None:
                value = info.default
                default = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            rows.append((f"{prefix}{field_name.upper()}", default or "(none)", info.description or ""))

    add("GRANARY_", PlatformSettings)
    add("GRANARY_GATEWAY_", GatewaySettings)
    add("GRANARY_FIELDTASK_", FieldTaskSettings)
    add("GRANARY_NOTIFICATION_", NotificationSettings)
    add("GRANARY_PROCESS_", ProcessSettings)
    add(
        "GRANARY_<SERVICE>_",
        ServiceSettings,
        {
            "database_url": "sqlite+aiosqlite:///var/<service>.db",
            "grpc_port": ", ".join(f"{n} {p}" for n, p in DEFAULT_GRPC_PORTS.items()),
            "address": "127.0.0.1:<grpc_port>",
        },
    )
    return rows


def effective_settings(settings: Settings) -> list[tuple[str, str, bool]]:
    """(variable, value in force, set in the environment) for every setting of this process.

    Secrets show only whether they are set; database URLs hide their password.
    """
    rows: list[tuple[str, str, bool]] = []

    def add(prefix: str, block: BaseSettings) -> None:
        for name in type(block).model_fields:
            variable = f"{prefix}{name.upper()}"
            rows.append((variable, _shown(getattr(block, name)), variable in os.environ))

    add("GRANARY_", settings.platform)
    add("GRANARY_GATEWAY_", settings.gateway)
    add("GRANARY_FIELDTASK_", FieldTaskSettings())
    add("GRANARY_NOTIFICATION_", settings.notification)
    add("GRANARY_PROCESS_", settings.process)
    for name in SERVICE_NAMES:
        add(f"GRANARY_{name.upper()}_", settings.service(name))
    return rows


def _shown(value: object) -> str:
    if isinstance(value, SecretStr):
        return "(set)" if value.get_secret_value() else "(not set)"
    text = str(value)
    if "://" in text and "@" in text:
        try:
            return make_url(text).render_as_string(hide_password=True)
        except Exception:  # not a database URL after all: show nothing that might be a password
            return "(hidden)"
    return text
