"""Password-free URLs for logs and messages: redact the password in one, or name a Redis client by one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

# scheme://user:password@ -> scheme://user:***@ ; the rest of the URL is left exactly as it was.
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@]*):[^/?#]*@")
# ?password=... or &password=... (redis-py and libpq both read it from the query).
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pass)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password, in the user part or the query, replaced by ***."""
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))


def redis_client_url(client: redis.Redis) -> str:
    """A URL-like name for a Redis client the caller did not build, for messages (it holds no password)."""
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']}?db={options.get('db', 0)}"
    return f"redis://{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"
