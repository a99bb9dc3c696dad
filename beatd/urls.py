"""Redact passwords from broker, database and Redis URLs before they reach a log or a message."""

from __future__ import annotations

import re

# scheme://user:password@ -> scheme://user:***@ ; the rest of the URL is left exactly as it was.
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@]*):[^/?#]*@")
# ?password=... or &password=... (redis-py and libpq both read it from the query).
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pass)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password, in the user part or the query, replaced by ***."""
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))
