"""Settings, read from the environment or `.env` with the prefix ``MVT_``.

Every field is listed, with a comment, in ``.env.example``. Unsafe values stop start-up
with a sentence naming the variable.
"""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property
from typing import Literal
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


LOOPBACK_PROXIES = "127.0.0.1,::1"
"""Whom ``mvt serve --proxy-headers`` trusts when no proxy address is given: a proxy on this host."""


def trusted_proxy_list(value: str, name: str = "MVT_TRUSTED_PROXIES") -> str:
    """``value`` (comma-separated IP addresses and networks) checked and normalised to ``a,b/n,…``.

    ``*`` is refused: uvicorn then takes the *leftmost* ``X-Forwarded-For`` entry from any peer,
    which every client writes itself. Raises ValueError with a sentence naming ``name``.

    >>> trusted_proxy_list(" 10.0.0.1, 10.1.0.0/16 ,")
    '10.0.0.1,10.1.0.0/16'
    """
    found = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "*":
            raise ValueError(f"{name} must list the proxies' addresses, not '*' (which lets every client "
                             f"choose its own address and escape the per-client limits)")
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)) if "/" in item else
                         str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(f"{name} entry {item!r} must be an IP address or network (e.g. 10.0.0.5 or "
                             f"10.0.0.0/24)") from None
    return ",".join(found)


# field -> (minimum length, what leaving it unset does)
_SECRET_RULES = {"admin_token": (16, "to disable admin routes"),
                 "viewer_token": (16, "to have no read-only sign-in"),
                 "secret_key": (32, "to generate one in MVT_DATA_DIR")}


class Settings(BaseSettings):
    """Typed configuration of one mvt-server installation."""

    model_config = SettingsConfigDict(env_prefix="MVT_", env_file=".env", extra="ignore")

    data_dir: Path = Path("mvt-data")
    redis_url: str | None = None
    redis_timeout_s: float = Field(default=2.0, gt=0, le=60)
    redis_wait_replicas: int = Field(default=0, ge=0, le=10)
    admin_token: SecretStr | None = None
    viewer_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    allotted_minutes: int = Field(default=60, ge=1)
    max_tasks_per_worker: int = Field(default=4, ge=1)
    mturk_sandbox: bool = True
    video_base_url: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    prolific_experiment: str | None = None
    prolific_completion_code: str | None = None
    prolific_completion_url: str = "https://app.prolific.com/submissions/complete?cc={code}"
    read_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=10)
    # Read by kernel/plugins.py before the commands and routes exist (the same environment-then-.env
    # rule); declared here so that it is checked, documented and listed like every setting.
    plugins: str = ""
    handshake_timeout_s: float = Field(default=5.0, gt=0, le=60)
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        return trusted_proxy_list(value)

    @field_validator("admin_token", "viewer_token", "secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None, info) -> SecretStr | None:
        minimum, unset = _SECRET_RULES[info.field_name]
        if value is not None and len(value.get_secret_value()) < minimum:
            raise ValueError(f"MVT_{info.field_name.upper()} must be at least {minimum} characters (or unset {unset})")
        return value

    @model_validator(mode="after")
    def _viewer_is_not_admin(self) -> Settings:
        if (self.viewer_token is not None and self.admin_token is not None
                and self.viewer_token.get_secret_value() == self.admin_token.get_secret_value()):
            raise ValueError("MVT_VIEWER_TOKEN must differ from MVT_ADMIN_TOKEN (the viewer token signs in read-only)")
        return self

    @cached_property
    def signing_key(self) -> bytes:
        """The HMAC key for assignment tokens and completion codes.

        ``MVT_SECRET_KEY`` when set; otherwise a random key generated once into
        ``MVT_DATA_DIR/secret.key`` so that restarts keep issued tokens valid.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip().encode()

    # Per-client limits (kernel/limits.py); 0 turns one off. Appended here: see .env.example.
    limit_assignments_per_minute: int = Field(default=60, ge=0)
    limit_assignments_per_worker_per_minute: int = Field(default=10, ge=0)
    limit_held_per_client: int = Field(default=100, ge=0)
    limit_eligibility_per_minute: int = Field(default=600, ge=0)
    limit_eligibility_per_worker_per_minute: int = Field(default=60, ge=0)

    # The control room (/admin/, app/routes/control.py). Appended here: see .env.example.
    admin_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    admin_signin_per_minute: int = Field(default=10, ge=1)
    # One line per allocation, completion and refusal (`mvt serve --log-format` sets it).
    log_format: Literal["off", "text", "json"] = "off"
    limit_arrivals_per_min: int = Field(default=600, ge=0)
    first_trial_minutes: int = Field(default=15, ge=1)
