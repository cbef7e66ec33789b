"""Provider metadata and the validated ``ConnectionSpec`` every storage function takes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict, get_args
from urllib.parse import urlsplit

from roset_local.storage.backends.errors import ConnectionConfigError

Family = Literal["s3", "gcs", "azure", "local"]  # one backend module each (ops.BACKENDS)
FAMILIES: tuple[Family, ...] = get_args(Family)


class ProviderInfo(TypedDict):
    """One storage provider: public metadata for GET /v1/connections/providers, and its backend family."""

    id: str
    name: str
    family: Family
    auth_type: str
    auth_types: NotRequired[list[str]]
    credential_fields: list[str]
    alternative_credential_fields: NotRequired[list[str]]
    default_region: str | None
    region_required: bool
    endpoint: str | None  # a template filled from region and credentials; None: endpoint_url needed
    endpoint_required: bool


_S3_KEYS = ["access_key_id", "secret_access_key"]

# The one table of storage provider names: everything else (the API, the console, the backends' registry,
# the tests) derives from it.
PROVIDERS: list[ProviderInfo] = [
    {"id": "s3", "name": "Amazon S3", "family": "s3", "auth_type": "access_key",
     "credential_fields": _S3_KEYS, "default_region": "us-east-1", "region_required": False,
     "endpoint": "https://s3.{region}.amazonaws.com", "endpoint_required": False},
    {"id": "gcs", "name": "Google Cloud Storage", "family": "gcs", "auth_type": "service_account",
     "auth_types": ["service_account", "anonymous"], "credential_fields": ["service_account_json"],
     "default_region": None, "region_required": False,
     "endpoint": "https://storage.googleapis.com", "endpoint_required": False},
    {"id": "azure_blob", "name": "Azure Blob Storage", "family": "azure", "auth_type": "connection_string",
     "auth_types": ["connection_string", "shared_key"],
     "credential_fields": ["connection_string"], "alternative_credential_fields": ["account_name", "account_key"],
     "default_region": None, "region_required": False,
     "endpoint": "https://{account_name}.blob.core.windows.net", "endpoint_required": False},
    {"id": "r2", "name": "Cloudflare R2", "family": "s3", "auth_type": "access_key",
     "credential_fields": [*_S3_KEYS, "account_id"], "default_region": "auto", "region_required": False,
     "endpoint": "https://{account_id}.r2.cloudflarestorage.com", "endpoint_required": False},
    {"id": "minio", "name": "MinIO", "family": "s3", "auth_type": "access_key",
     "credential_fields": _S3_KEYS, "default_region": "us-east-1", "region_required": False,
     "endpoint": None, "endpoint_required": True},
    {"id": "supabase_storage", "name": "Supabase Storage", "family": "s3", "auth_type": "access_key",
     "credential_fields": [*_S3_KEYS, "project_ref"], "default_region": "us-east-1", "region_required": False,
     "endpoint": "https://{project_ref}.supabase.co/storage/v1/s3", "endpoint_required": False},
    {"id": "b2", "name": "Backblaze B2", "family": "s3", "auth_type": "access_key",
     "credential_fields": _S3_KEYS, "default_region": None, "region_required": True,
     "endpoint": "https://s3.{region}.backblazeb2.com", "endpoint_required": False},
    {"id": "do_spaces", "name": "DigitalOcean Spaces", "family": "s3", "auth_type": "access_key",
     "credential_fields": _S3_KEYS, "default_region": None, "region_required": True,
     "endpoint": "https://{region}.digitaloceanspaces.com", "endpoint_required": False},
    {"id": "wasabi", "name": "Wasabi", "family": "s3", "auth_type": "access_key",
     "credential_fields": _S3_KEYS, "default_region": "us-east-1", "region_required": False,
     "endpoint": "https://s3.{region}.wasabisys.com", "endpoint_required": False},
    {"id": "local", "name": "Local directory", "family": "local", "auth_type": "none",
     "credential_fields": [], "default_region": None, "region_required": False,
     "endpoint": None, "endpoint_required": False},
]
PROVIDER_IDS = tuple(p["id"] for p in PROVIDERS)
S3_FAMILY = tuple(p["id"] for p in PROVIDERS if p["family"] == "s3")
_BY_ID = {p["id"]: p for p in PROVIDERS}

_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$")
_REGION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9-]{1,63}$")  # account_id, project_ref: become a host name label


def provider_info(provider: str) -> ProviderInfo:
    try:
        return _BY_ID[provider]
    except KeyError:
        raise ConnectionConfigError(
            f"Unknown provider {provider!r}; expected one of: {', '.join(PROVIDER_IDS)}") from None


def family(provider: str) -> Family:
    return provider_info(provider)["family"]


@dataclass(frozen=True)
class ConnectionSpec:
    """Where a connection points and how to authenticate. Validated on construction.

    ``bucket`` may be empty only for :func:`list_buckets`. ``prefix`` is a raw key prefix filter
    (``uploads/``). For ``local``, ``bucket`` is a directory inside one of ``local_roots`` (a server
    setting, not stored with the connection). ``credentials`` never appear in ``repr``.
    """

    provider: str
    bucket: str = ""
    region: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)
    local_roots: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        info = provider_info(self.provider)
        norm = object.__setattr__
        norm(self, "bucket", (self.bucket or "").strip())
        norm(self, "region", (self.region or "").strip() or None)
        norm(self, "prefix", (self.prefix or "").lstrip("/"))
        norm(self, "endpoint_url", (self.endpoint_url or "").strip().rstrip("/") or None)
        norm(self, "credentials", dict(self.credentials or {}))
        norm(self, "local_roots", tuple(str(r) for r in self.local_roots or ()))
        if "\x00" in self.prefix:
            raise ConnectionConfigError("prefix must not contain NUL characters")
        if self.region is not None and not _REGION_RE.match(self.region):
            raise ConnectionConfigError(f"region {self.region!r} is not a valid region name")
        if self.endpoint_url is not None:
            _check_url(self.endpoint_url)
        fam = info["family"]
        if fam == "local":
            if self.bucket:
                from roset_local.storage.backends.roots import resolve_base

                resolve_base(self)  # raises on a path outside the roots
            return
        if self.bucket and not _BUCKET_RE.match(self.bucket):
            raise ConnectionConfigError(
                f"bucket {self.bucket!r} is not a valid bucket name (letters, digits, '.', '-', '_'; 3-255 chars)")
        if fam == "s3":
            _check_s3(self, info)
        elif fam == "azure":
            _check_azure(self)
        elif fam == "gcs":
            _check_gcs(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, local_roots: Sequence[str] = ()) -> ConnectionSpec:
        """Build from an API payload or a stored row; unrelated keys (``name``, ``id``...) are ignored."""
        if not isinstance(data, Mapping):
            raise ConnectionConfigError("connection settings must be an object")
        provider = data.get("provider")
        if not isinstance(provider, str) or not provider:
            raise ConnectionConfigError("provider is required")
        creds = data.get("credentials") or {}
        if isinstance(creds, str):  # stored as JSON text
            try:
                creds = json.loads(creds)
            except ValueError:
                raise ConnectionConfigError("credentials must be an object") from None
        if not isinstance(creds, Mapping):
            raise ConnectionConfigError("credentials must be an object")
        for name in ("bucket", "region", "prefix", "endpoint_url"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ConnectionConfigError(f"{name} must be a string")
        return cls(provider=provider, bucket=data.get("bucket") or "", region=data.get("region"),
                   prefix=data.get("prefix") or "", endpoint_url=data.get("endpoint_url"),
                   credentials=creds, local_roots=tuple(local_roots))

    @property
    def family(self) -> Family:
        return family(self.provider)

    @property
    def effective_region(self) -> str | None:
        return self.region or provider_info(self.provider)["default_region"]

    @property
    def resolved_endpoint(self) -> str | None:
        """The explicit ``endpoint_url``, else the one the provider defines (None: none defined)."""
        if self.endpoint_url:
            return self.endpoint_url
        template = provider_info(self.provider)["endpoint"]
        if not template:
            return None
        values = {"region": self.effective_region or "", **{k: str(v) for k, v in self.credentials.items()}}
        if self.provider == "azure_blob":
            values["account_name"] = azure_account(self)[0] or ""
        return str(template).format(**values)

    def secrets(self) -> list[str]:
        """Every secret string this spec carries (for scrubbing messages)."""
        found: list[str] = []
        for key, value in self.credentials.items():
            if key in ("access_key_id", "account_name", "account_id", "project_ref", "anonymous"):
                continue
            if isinstance(value, str) and len(value) >= 4:
                found.append(value)
                if key == "connection_string":
                    found += [v for k, v in _parse_conn_str(value).items()
                              if k.lower() in ("accountkey", "sharedaccesssignature") and len(v) >= 4]
            elif isinstance(value, Mapping):
                found += [v for v in value.values() if isinstance(v, str) and len(v) >= 16]
        return found

    def outbound_urls(self) -> list[tuple[str, str]]:
        """``(field, url)`` for every address a caller chose that the server will connect to."""
        urls: list[tuple[str, str]] = []
        if self.endpoint_url:
            urls.append(("endpoint_url", self.endpoint_url))
        if _nonempty_str(self.credentials, "connection_string"):
            parts = {k.lower(): v for k, v in _parse_conn_str(str(self.credentials["connection_string"])).items()}
            if parts.get("blobendpoint"):
                urls.append(("credentials.connection_string BlobEndpoint", parts["blobendpoint"]))
        if self.family == "gcs":
            token_uri = (gcs_service_account(self) or {}).get("token_uri")
            if isinstance(token_uri, str) and token_uri:
                urls.append(("credentials.service_account_json token_uri", token_uri))
        return urls

    def redacted(self) -> dict[str, Any]:
        """Settings safe to show or log: credential values are replaced by ``***``."""
        return {"provider": self.provider, "bucket": self.bucket, "region": self.region,
                "prefix": self.prefix, "endpoint_url": self.endpoint_url,
                "credentials": {k: "***" for k in self.credentials}}


def scrub(text: str, spec: ConnectionSpec) -> str:
    for secret in sorted(spec.secrets(), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionConfigError(f"endpoint_url {url!r} must be an http(s) URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConnectionConfigError("endpoint_url must not carry a query, fragment or user info")


def _nonempty_str(creds: Mapping[str, Any], key: str) -> bool:
    value = creds.get(key)
    return isinstance(value, str) and bool(value.strip())


def _check_s3(spec: ConnectionSpec, info: ProviderInfo) -> None:
    creds = spec.credentials
    missing = [k for k in _S3_KEYS if not _nonempty_str(creds, k)]
    if missing:
        raise ConnectionConfigError(
            f"{info['name']} needs credentials {{\"access_key_id\", \"secret_access_key\"}}; missing: {', '.join(missing)}")
    if spec.endpoint_url:
        return
    if info["endpoint_required"]:
        raise ConnectionConfigError(f"{info['name']} needs endpoint_url (e.g. http://minio.local:9000)")
    if info["region_required"] and not spec.region:
        raise ConnectionConfigError(f"{info['name']} needs a region (or an explicit endpoint_url)")
    for label in ("account_id", "project_ref"):
        if "{" + label + "}" in (info["endpoint"] or ""):
            value = creds.get(label)
            if not isinstance(value, str) or not _LABEL_RE.match(value):
                raise ConnectionConfigError(
                    f"{info['name']} needs credentials.{label} (letters, digits and '-') or an explicit endpoint_url")


def _parse_conn_str(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(";"):
        if "=" in part:
            key, _, val = part.partition("=")
            out[key.strip()] = val.strip()
    return out


def azure_account(spec: ConnectionSpec) -> tuple[str | None, str | None]:
    """(account_name, account_key) from either credential form."""
    creds = spec.credentials
    if _nonempty_str(creds, "connection_string"):
        parts = {k.lower(): v for k, v in _parse_conn_str(str(creds["connection_string"])).items()}
        return parts.get("accountname"), parts.get("accountkey")
    return creds.get("account_name"), creds.get("account_key")


def azure_connection_string(spec: ConnectionSpec) -> str:
    """A connection string for either credential form; an explicit ``endpoint_url`` is the blob endpoint."""
    creds = spec.credentials
    if _nonempty_str(creds, "connection_string"):
        text = str(creds["connection_string"]).strip().rstrip(";")
        if spec.endpoint_url:
            kept = [p for p in text.split(";") if not p.strip().lower().startswith("blobendpoint=")]
            text = ";".join([*kept, f"BlobEndpoint={spec.endpoint_url}"])
        return text + ";"
    name, key = azure_account(spec)
    endpoint = spec.resolved_endpoint
    scheme = urlsplit(endpoint or "https://x").scheme
    return f"DefaultEndpointsProtocol={scheme};AccountName={name};AccountKey={key};BlobEndpoint={endpoint};"


def _check_azure(spec: ConnectionSpec) -> None:
    creds = spec.credentials
    if _nonempty_str(creds, "connection_string"):
        parts = {k.lower() for k in _parse_conn_str(str(creds["connection_string"]))}
        if not parts & {"accountkey", "sharedaccesssignature"}:
            raise ConnectionConfigError(
                "credentials.connection_string must contain AccountName and AccountKey (or a SharedAccessSignature)")
        if "accountname" not in parts and "blobendpoint" not in parts and not spec.endpoint_url:
            raise ConnectionConfigError("credentials.connection_string has neither AccountName nor BlobEndpoint")
        return
    if _nonempty_str(creds, "account_name") and _nonempty_str(creds, "account_key"):
        if not _LABEL_RE.match(str(creds["account_name"])):
            raise ConnectionConfigError("credentials.account_name must be letters and digits")
        return
    raise ConnectionConfigError(
        "Azure Blob needs credentials {\"connection_string\"} or {\"account_name\", \"account_key\"}")


def gcs_service_account(spec: ConnectionSpec) -> dict[str, Any] | None:
    """The parsed service-account key, or None for anonymous access."""
    raw = spec.credentials.get("service_account_json")
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise ConnectionConfigError("credentials.service_account_json is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConnectionConfigError("credentials.service_account_json must be a JSON object")
    return value


def _check_gcs(spec: ConnectionSpec) -> None:
    info = gcs_service_account(spec)
    if info is None:
        if spec.credentials.get("anonymous") is True:
            return
        raise ConnectionConfigError(
            "Google Cloud Storage needs credentials {\"service_account_json\"} or {\"anonymous\": true}")
    missing = [k for k in ("type", "client_email", "private_key", "token_uri") if not info.get(k)]
    if missing or info.get("type") != "service_account":
        raise ConnectionConfigError(
            "credentials.service_account_json must be a service-account key file "
            f"(type service_account; missing: {', '.join(missing) or 'none'})")
