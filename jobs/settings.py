"""Service settings: environment variables (``PENPOST_*``) or a TOML file.

The embedded default needs nothing installed: SQLite (WAL) under the data directory for
jobs and a broker on files beside it. Scale-out sets ``PENPOST_DATABASE_URL`` to a
PostgreSQL URL and ``PENPOST_BROKER_URL`` to Redis or RabbitMQ; the code is the same.

>>> Settings(data_dir=Path("/tmp/pp")).database_url
'sqlite:////tmp/pp/penpost.db'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "PENPOST_CONFIG"  # path of an optional TOML file with the same keys


class Settings(BaseSettings):
    """Every setting of the service, with the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="PENPOST_", extra="forbid")

    data_dir: Path = Field(default=Path("penpost-data"),
                           description="artifacts, the SQLite database and the file broker")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in data_dir")
    broker_url: str = Field(default="", description="Celery broker; default files in data_dir")
    database_pool_size: int = Field(default=5, ge=1, description="connections kept per process")
    database_pool_overflow: int = Field(default=5, ge=0, description="extra ones under load")
    profile: str = Field(default="grbl-servo", description="machine profile for G-code")
    preview_dpi: int = Field(default=150, ge=50, le=600, description="PNG preview resolution")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="larger bodies get 413")
    max_batch_jobs: int = Field(default=5000, ge=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_backoff_s: list[float] = Field(
        default=[10, 30, 60, 300, 900, 1800, 3600, 3600, 3600, 3600, 3600, 3600],
        description="wait before each retry of a failed webhook delivery")
    sweep_interval_s: float = Field(default=5.0, gt=0,
                                    description="how often stuck renders and due webhooks are re-sent")
    render_stale_s: float = Field(default=60.0, gt=0,
                                  description="a job received this long ago and not rendered is sent again")
    # Redis has no acknowledgement timeout of its own: a message taken by a worker that
    # is killed comes back after this long (Celery's default: an hour). A little above
    # the sweeper's longest backoff (4 × render_stale_s), and above the longest render,
    # which would otherwise be delivered to a second worker while the first still runs.
    broker_visibility_timeout_s: float = Field(
        default=300.0, gt=0, description="Redis broker: an unacknowledged message is "
        "delivered again after this long")
    rate_limit_per_minute: int = Field(default=600, ge=1, description="requests per API key")
    station_stale_s: float = Field(default=30.0, gt=0, description="a station not heard of "
                                   "this long is gone: its queued cards go to the others")
    plot_policy: Literal["least-time", "round-robin", "shared"] = Field(
        default="least-time", description="how approved cards are spread over the stations")

    @model_validator(mode="after")
    def _defaults_in_data_dir(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'penpost.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        return self

    @property
    def artifacts_dir(self) -> Path:
        """Where rendered files live: ``artifacts/<job id>/r<revision>/``."""
        return self.data_dir / "artifacts"

    @property
    def broker_dir(self) -> Path:
        """Folder of the file broker (embedded default only)."""
        return self.data_dir / "broker"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and ``PENPOST_CONFIG``), with ``overrides`` on top."""
    return Settings(**overrides)
