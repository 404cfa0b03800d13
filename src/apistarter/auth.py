"""The auth plan: what the service's write routes ask of a caller, and why.

Pure: derived from the auth answer, or with auth=auto from who calls the API. The
generated auth module, its settings, the OpenAPI document, the deploy artefacts' secrets
and the ADR place these values; none of them is typed again in a template.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from apistarter.questions import Auth, Consumers, DecisionAnswers

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

# auth=jwt: the header RFC 6750 puts a bearer token in, and the scheme's OpenAPI name.
BEARER_HEADER = "Authorization"
BEARER_SCHEME_NAME = "BearerJWT"
JWT_ISSUER_SETTING = "APP_JWT_ISSUER"
JWT_AUDIENCE_SETTING = "APP_JWT_AUDIENCE"
JWT_JWKS_URL_SETTING = "APP_JWT_JWKS_URL"
JWT_SCOPES_CLAIM_SETTING = "APP_JWT_SCOPES_CLAIM"
JWT_WRITE_SCOPE_SETTING = "APP_JWT_WRITE_SCOPE"
# `scope` is the claim RFC 8693 and RFC 9068 define (a space-separated string); Entra ID
# sends `scp`, Keycloak and others `roles` (lists): the setting names another claim.
JWT_SCOPES_CLAIM = "scope"
JWT_WRITE_SCOPE = "items:write"
# Clocks on the issuer and on the service's nodes drift apart by seconds (NTP keeps them
# within a second or two; a VM just resumed is further off). 30 s accepts that skew and
# keeps a stolen token's life after its expiry short.
JWT_LEEWAY_S = 30
# An issuer publishes a new key in its JWKS well before signing with it, and a retired
# key stays there for a while: five minutes of cache picks up a rotation in time, and
# a token with a kid not in the cache refetches it at once (at most once per
# JWT_REFETCH_INTERVAL_S, so random kids cannot turn every request into a fetch).
JWT_JWKS_CACHE_S = 300
JWT_REFETCH_INTERVAL_S = 10
# The JWKS fetch runs while a request waits: a few seconds, then 503, not a hung worker.
JWT_FETCH_TIMEOUT_S = 3
# A client told 503 (the JWKS cannot be fetched) retries after this long.
JWT_RETRY_AFTER_S = 5
# Asymmetric algorithms only, and each token is checked with the one its key names:
# never `none`, never HS* (a shared secret; HS256 "signed" with an RSA public key is the
# classic confusion attack). EdDSA is left out until the identity providers issue it.
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
# Claims a token must carry; a token without them is refused, whatever else it says.
JWT_REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")


# auth=auto: who calls the API decides how a caller proves who it is. One row per
# api_consumers answer: the scheme and the reason the ADR and the CLI give for it.
AUTH_FOR_CONSUMERS: dict[Consumers, tuple[Auth, str]] = {
    "partners": (
        "jwt",
        "Other companies call it over the internet: each must be told apart, and a "
        "partner's access must end at the identity provider (revoke its client) without a "
        "change to the service. Tokens from the provider do that; keys handed out by hand "
        "do not expire.",
    ),
    "frontend": (
        "jwt",
        "Your web and mobile apps sign their users in with an identity provider and send its "
        "access token: the service checks that token. An API key cannot protect a frontend "
        "API, because every browser that loads the app can read the key.",
    ),
    "internal": (
        "none",
        "Only your own services and scripts call it, inside your network: there the network "
        "authenticates (a mesh with mutual TLS, a NetworkPolicy, a private subnet), and a key "
        "shared between your own services would add a secret to rotate and no identity. "
        "Choose auth=api-key (scripts, cron jobs) or auth=jwt (service accounts of your "
        "identity provider) as soon as a caller outside that boundary needs it.",
    ),
}


# auth=auto when an existing Flask app is adopted (`new --legacy`), whoever calls it.
AUTH_FOR_ADOPTION: tuple[Auth, str] = (
    "none",
    "The adopted Flask app keeps the authentication it has, and the service starts as the "
    "app did, with no setting it never needed; the service's own new routes check nothing "
    "until you choose auth=jwt or auth=api-key for them.",
)


# Why an answered scheme (a team's or a policy's lock) is the one used.
ANSWERED = "answered, so the rule for api_consumers does not apply."


def choose_auth(answers: DecisionAnswers, *, adopted: bool = False) -> tuple[Auth, str]:
    """The scheme for the answers and why: the auth answer, or with auto the row that applies."""
    if answers.auth != "auto":
        return answers.auth, f"auth={answers.auth}: {ANSWERED}"
    if adopted:
        scheme, reason = AUTH_FOR_ADOPTION
        return scheme, f"new --legacy: auth={scheme}. {reason}"
    scheme, reason = AUTH_FOR_CONSUMERS[answers.api_consumers]
    return scheme, f"api_consumers={answers.api_consumers}: auth={scheme}. {reason}"


class JwtPlan(BaseModel):
    """auth=jwt: where the issuer's settings live and the constants verification uses."""

    model_config = ConfigDict(frozen=True)

    issuer_setting: str
    audience_setting: str
    jwks_url_setting: str
    scopes_claim_setting: str
    scopes_claim: str
    write_scope_setting: str
    write_scope: str
    leeway_s: int
    jwks_cache_s: int
    refetch_interval_s: int
    fetch_timeout_s: int
    retry_after_s: int
    algorithms: tuple[str, ...]
    required_claims: tuple[str, ...]
    # Each value's reason, for the ADR and the CLI's panel.
    reasons: dict[str, str]


def plan_jwt() -> JwtPlan:
    """The JWT plan: the same for every service (its values are settings, not answers)."""
    return JwtPlan(
        issuer_setting=JWT_ISSUER_SETTING,
        audience_setting=JWT_AUDIENCE_SETTING,
        jwks_url_setting=JWT_JWKS_URL_SETTING,
        scopes_claim_setting=JWT_SCOPES_CLAIM_SETTING,
        scopes_claim=JWT_SCOPES_CLAIM,
        write_scope_setting=JWT_WRITE_SCOPE_SETTING,
        write_scope=JWT_WRITE_SCOPE,
        leeway_s=JWT_LEEWAY_S,
        jwks_cache_s=JWT_JWKS_CACHE_S,
        refetch_interval_s=JWT_REFETCH_INTERVAL_S,
        fetch_timeout_s=JWT_FETCH_TIMEOUT_S,
        retry_after_s=JWT_RETRY_AFTER_S,
        algorithms=JWT_ALGORITHMS,
        required_claims=JWT_REQUIRED_CLAIMS,
        reasons={
            "settings": (
                f"`{JWT_ISSUER_SETTING}`, `{JWT_AUDIENCE_SETTING}` and `{JWT_JWKS_URL_SETTING}` "
                "are plain configuration (nothing in them is secret: the JWKS holds public "
                "keys); the service does not start without all three, and an http:// JWKS URL "
                "is refused unless it is on loopback."
            ),
            "scopes": (
                f"Writes need `{JWT_WRITE_SCOPE}` (`{JWT_WRITE_SCOPE_SETTING}`) in the "
                f"`{JWT_SCOPES_CLAIM}` claim (`{JWT_SCOPES_CLAIM_SETTING}`: `scp` or `roles` "
                "for providers that use those); a space-separated string or a list. A valid "
                "token without it gets 403."
            ),
            "leeway": (
                f"{JWT_LEEWAY_S} s of leeway on `exp` and `nbf`: the issuer's clock and the "
                "service's drift apart by seconds; more would lengthen a stolen token's life."
            ),
            "jwks_cache": (
                f"The JWKS is cached {JWT_JWKS_CACHE_S} s and refetched at once for a kid it "
                f"does not hold (at most every {JWT_REFETCH_INTERVAL_S} s): keys rotate "
                "without a restart, and random kids cannot make every request a fetch."
            ),
            "unavailable": (
                f"A JWKS that cannot be fetched (timeout {JWT_FETCH_TIMEOUT_S} s) with no "
                f"key cached answers 503 with Retry-After: {JWT_RETRY_AFTER_S}: the caller's "
                "token may be fine, so not 401, and nothing in the service failed, so not 500."
            ),
            "algorithms": (
                "Each token is checked with the algorithm its key names (RS*, PS*, ES*), "
                "never `none` and never HS* (no token signed with the public key as an HMAC "
                "secret); `exp`, `iss`, `aud` and `sub` are required."
            ),
        },
    )


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
    # Plain settings the service cannot start without (deploy artefacts leave them to fill in).
    config: tuple[str, ...]
    # The request log's field naming the caller (never the credential itself).
    log_field: str | None
    jwt: JwtPlan | None
    # Why this scheme (the answer it follows), then what it does.
    chosen: str
    why: str


def plan_auth(answers: DecisionAnswers, *, adopted: bool = False) -> AuthPlan:
    """The plan for the ``auth`` answer (with auto, for ``api_consumers`` or the adoption)."""
    auth, chosen = choose_auth(answers, adopted=adopted)
    if auth == "api-key":
        return AuthPlan(
            scheme=auth,
            header=API_KEY_HEADER,
            secret=API_KEYS_SETTING,
            reads_setting=AUTH_READS_SETTING,
            key_id_digits=KEY_ID_DIGITS,
            scheme_name=SCHEME_NAME,
            config=(),
            log_field="api_key_id",
            jwt=None,
            chosen=chosen,
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
    if auth == "jwt":
        jwt = plan_jwt()
        return AuthPlan(
            scheme=auth,
            header=BEARER_HEADER,
            secret=None,
            reads_setting=AUTH_READS_SETTING,
            key_id_digits=KEY_ID_DIGITS,
            scheme_name=BEARER_SCHEME_NAME,
            config=(JWT_ISSUER_SETTING, JWT_AUDIENCE_SETTING, JWT_JWKS_URL_SETTING),
            log_field="sub",
            jwt=jwt,
            chosen=chosen,
            why=(
                f"auth=jwt: callers send `{BEARER_HEADER}: Bearer <token>`, a JWT from the "
                f"identity provider at `{JWT_ISSUER_SETTING}`, verified against its JWKS "
                f"(`{JWT_JWKS_URL_SETTING}`) for the audience `{JWT_AUDIENCE_SETTING}`. "
                "Writes need the write scope; reads need a token too when "
                f"`{AUTH_READS_SETTING}=true`. The request log names the caller by `sub`, "
                "never the token."
            ),
        )
    return AuthPlan(
        scheme=auth,
        header=None,
        secret=None,
        reads_setting=None,
        key_id_digits=KEY_ID_DIGITS,
        scheme_name=None,
        config=(),
        log_field=None,
        jwt=None,
        chosen=chosen,
        why=(
            "auth=none: the service checks no credentials itself. Anyone who can reach it "
            "can write: keep it behind something that authenticates (a gateway, a mesh with "
            "mutual TLS), or choose auth=jwt or auth=api-key."
        ),
    )
