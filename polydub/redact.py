"""Keep secrets out of logs, reports and error messages.

`scrub` replaces, in any text, the values of the secret environment variables (Hugging Face, AWS,
Prefect, object-store credentials, and any ``*_TOKEN`` / ``*_SECRET`` / ``*_PASSWORD`` / ``*_API_KEY``
variable), secrets registered at run time (storage options), the credentials of a URL
(``s3://key:secret@bucket`` → ``s3://***@bucket``), signed-URL query parameters, and strings shaped
like tokens (``hf_…``, AWS access key ids, Prefect API keys, ``Authorization:`` headers).

`install` makes every log record scrubbed where it is created (a wrapper around the logging record
factory), so the message and traceback of every logger — polydub's, Prefect's (console and the API
log handler that ships run logs to the server), libraries' and pytest's — hold no secret whichever
handlers are added later. A filter on a logger would miss its child loggers' records, and one on a
handler would miss handlers created later. `RedactingFilter` is the same step as a `logging.Filter`,
for handlers configured elsewhere (``logging.yml``).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from typing import Any, Iterable, Mapping
from urllib.parse import quote

MASK = "***"
SECRET_ENV_VARS = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET", "GOOGLE_API_KEY",
)
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|AUTH_STRING|ACCESS_KEY|ACCOUNT_KEY|CONNECTION_STRING)$")
# keys of storage options / mappings whose values are credentials
SECRET_KEYS = frozenset({
    "key", "secret", "token", "password", "passwd", "session_token", "secret_key", "access_key", "secret_access_key",
    "client_secret", "api_key", "auth_string", "account_key", "sas_token", "connection_string", "credential", "credentials",
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
})
_DATA_SECRET_KEYS = SECRET_KEYS - {"key"}  # in reports "key" may name an artifact or a cache entry
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would mask ordinary text

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL credentials: scheme://user:password@host (the password may hold a "/"), scheme://token@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:'\"<>]*:[^\s@'\"<>]+@"), rf"\1{MASK}@"),
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@"), rf"\1{MASK}@"),
    # credentials in a query string (signed URLs, SAS tokens)
    (re.compile(r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|sig|signature|token|access_token|api_key|apikey|password|secret)=)[^&\s'\"<>]+"), rf"\1{MASK}"),
    # name=value / name: value with a credential's name (as in a repr, a config dump or an env listing)
    (re.compile(r"(?i)(\b(?:aws_secret_access_key|aws_session_token|aws_access_key_id|hf_token|hugging_face_hub_token|prefect_api_key|[a-z_]*auth_string|client_secret|secret_access_key|session_token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"), rf"\1{MASK}"),
    # a quoted key of a credential in a dict / JSON text: {'secret': '…'}
    (re.compile(r"""(?i)(['"](?:secret|token|password|passwd|api_key|access_key|account_key|sas_token|client_secret|credentials?)['"]\s*:\s*['"])[^'"]*"""), rf"\1{MASK}"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)?\s*)[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), MASK),  # Hugging Face tokens
    (re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"), MASK),  # AWS access key ids
    (re.compile(r"\bpn[ub]_[A-Za-z0-9]{30,}\b"), MASK),  # Prefect Cloud API keys
)

_registered: set[str] = set()
_lock = threading.Lock()


def register_secrets(values: Iterable[Any]) -> None:
    """Treat these values as secrets from now on (e.g. the credentials of storage options)."""
    with _lock:
        _registered.update(str(v) for v in values if v is not None and len(str(v)) >= MIN_SECRET_LENGTH)


def register_mapping(options: Mapping[str, Any] | None) -> None:
    """Register the values of a mapping's credential keys (``key``, ``secret``, ``token``…), nested too."""
    for name, value in (options or {}).items():
        if isinstance(value, Mapping):
            register_mapping(value)
        elif str(name).lower() in SECRET_KEYS:
            register_secrets([value])


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value known now, longest first (environment + registered), with their base64 forms."""
    env = os.environ if environ is None else environ
    found = {value for name, value in env.items() if (name in SECRET_ENV_VARS or _SECRET_NAME.search(name))}
    with _lock:
        found |= _registered
    found = {v for v in found if len(v) >= MIN_SECRET_LENGTH}
    encoded = {base64.b64encode(v.encode()).decode() for v in found}  # as sent in a Basic auth header
    encoded |= {quote(v, safe="") for v in found}  # as written in a URL
    found |= encoded
    return sorted(found, key=len, reverse=True)


def scrub(text: Any) -> str:
    """``text`` with every secret value, URL credential and token-shaped string replaced by ``***``."""
    text = str(text)
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_data(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, strings) with every string scrubbed and credential keys masked."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: (MASK if str(k).lower() in _DATA_SECRET_KEYS and v else scrub_data(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_data(v) for v in value)
    return value


def scrub_exception(exc: BaseException) -> BaseException:
    """Scrub an exception in place, with its causes: its text arguments (and an OSError's file names), which
    become the failure messages Prefect stores with task and flow run states. Returns ``exc``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(scrub(a) if isinstance(a, str) else a for a in current.args)
        if isinstance(current, OSError):  # its text comes from these fields, not from args
            for name in ("strerror", "filename", "filename2"):
                if isinstance(getattr(current, name), str):
                    setattr(current, name, scrub(getattr(current, name)))
        current = current.__cause__ or current.__context__
    return exc


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a log record in place: its message (with its arguments merged in), traceback and stack."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: logging reports it when the record is emitted
        return record
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs each record it sees and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install() -> None:
    """Scrub every log record of this process from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "polydub_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory.polydub_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


__all__ = ["MASK", "RedactingFilter", "install", "redact_record", "register_mapping", "register_secrets", "scrub", "scrub_data", "scrub_exception", "secret_values"]
