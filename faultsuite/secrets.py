"""Keeping credentials out of everything the suite writes: run.json, reports, logs, stderr.

- `redact(value)`: a copy of a JSON-like value in which every value under a key that names a
  credential (`api_key`, `token`, `Authorization`, ...), every string that looks like one
  (`sk-...`, `Bearer ...`, a JWT, a long random token) and the userinfo of every URL reads
  `***`.
- `redact_text(text)`: the same for free text: a log line, a command line, an error message.
- `fill_environment(template)`: `${NAME}` references filled from the environment, for
  request headers that carry a key (`Authorization: Bearer ${OPENAI_API_KEY}`). The filled
  value is sent and never written anywhere.
"""

import logging
import os
import re

from faultsuite.errors import ConfigError

__all__ = ["REDACTED", "RedactingFilter", "fill_environment", "redact", "redact_text", "redact_url"]

REDACTED = "***"

#: Keys whose values are credentials, whatever they look like.
SECRET_KEY = re.compile(
    r"(?<![a-z])(api[_-]?key|token|secret|passw(or)?d|authori[sz]ation|credentials?|cookie|private[_-]?key)(?![a-z])", re.IGNORECASE
)
#: Strings that look like credentials: known key prefixes, auth schemes, JWTs, and long
#: unbroken tokens of letters and digits (model names have '/', '.' or are short).
SECRET_VALUE = re.compile(
    r"\b(?:sk|pk|rk)[-_][A-Za-z0-9_\-]{8,}"
    r"|\b(?:hf|ghp|gho|ghs|ghu|glpat|xox[abpr])[-_][A-Za-z0-9_\-]{8,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{8,}"
    r"|\bAKIA[0-9A-Z]{12,}"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?"
    r"|\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9_\-.=+/]{8,}"
    r"|\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{40,}\b"
)
#: `scheme://user:password@` or `scheme://token@` in a URL.
USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")
ENVIRONMENT_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")


def redact_url(url: str) -> str:
    """`url` with any userinfo replaced: `http://***@host:8000/v1`."""
    return USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", url)


def redact_text(text: str) -> str:
    """`text` with URL userinfo and anything that looks like a key replaced by `***`."""
    return SECRET_VALUE.sub(REDACTED, redact_url(text))


def redact(value: object) -> object:
    """A copy of a JSON-like value with every credential replaced by `***`."""
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and SECRET_KEY.search(key) else redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def fill_environment(template: str, where: str) -> str:
    """`template` with each `${NAME}` replaced by the environment variable NAME; ConfigError
    naming `where` and the variable when it is not set."""

    def value(match: re.Match) -> str:
        name = match["name"]
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return ENVIRONMENT_REFERENCE.sub(value, template)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
