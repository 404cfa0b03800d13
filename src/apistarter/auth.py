"""The auth plan: what the service's write routes ask of a caller, and why.

Pure: derived from the auth answer. The generated auth module, its settings, the
OpenAPI document, the deploy artefacts' secrets and the ADR place these values; none
of them is typed again in a template.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from apistarter.questions import Auth

API_KEY_HEADER = "X-API-Key"
# A list, as pydantic-settings reads one (`["key-a","key-b"]`): a new key is added
# before the old one is removed, so clients move over without downtime.
API_KEYS_SETTING = "APP_API_KEYS"
# Reads stay public unless this is true: the example's writes are what a key protects.
AUTH_READS_SETTING = "APP_AUTH_READS"
# The request log names the key used by this many hex digits of its SHA-256: enough to
# tell a client's keys apart during a rotation, too few to help guess one.
KEY_ID_DIGITS = 8
# The name the OpenAPI document gives the scheme (Swagger UI's Authorize lists it).
SCHEME_NAME = "APIKeyHeader"


class AuthPlan(BaseModel):
    """How callers authenticate, where their credentials are configured, and why."""

    model_config = ConfigDict(frozen=True)

    scheme: Auth
    # The request header that carries the credential; None when nothing is checked.
    header: str | None
    # The setting (a Secret on every deploy target) that holds the accepted credentials.
    secret: str | None
    reads_setting: str | None
    key_id_digits: int
    scheme_name: str | None
    why: str


def plan_auth(auth: Auth) -> AuthPlan:
    """The plan for the ``auth`` answer."""
    if auth == "api-key":
        return AuthPlan(
            scheme=auth,
            header=API_KEY_HEADER,
            secret=API_KEYS_SETTING,
            reads_setting=AUTH_READS_SETTING,
            key_id_digits=KEY_ID_DIGITS,
            scheme_name=SCHEME_NAME,
            why=(
                f"auth=api-key: callers send `{API_KEY_HEADER}`, checked in constant time "
                f"against every key in `{API_KEYS_SETTING}` (a list, so a new key is added "
                "before the old one is removed and clients move over without downtime). "
                "Writes need a key; reads too when "
                f"`{AUTH_READS_SETTING}=true`. A key is never logged: the request log names "
                f"it by the first {KEY_ID_DIGITS} hex digits of its SHA-256. The service "
                "does not start with an empty key list."
            ),
        )
    return AuthPlan(
        scheme=auth,
        header=None,
        secret=None,
        reads_setting=None,
        key_id_digits=KEY_ID_DIGITS,
        scheme_name=None,
        why=(
            "auth=none: the service checks no credentials itself. Anyone who can reach it "
            "can write: keep it behind something that authenticates (a gateway, a mesh with "
            "mutual TLS), or choose auth=api-key."
        ),
    )
