"""The exception tree every beatd layer raises from.

    BeatdError
    ├── ConfigError          the user fixes a file or an argument; the CLI exits 1
    ├── LeaseLost            the daemon stops publishing at once
    └── BackendUnavailable   a broker, database or lease store is down; retry with backoff
"""

from __future__ import annotations


class BeatdError(Exception):
    """Root of every error beatd raises on purpose."""


class ConfigError(BeatdError, ValueError):
    """A schedule, entry or configuration value is invalid; the message says where and why."""


class LeaseLost(BeatdError):
    """This instance no longer holds the leader lease, or a newer leader fenced its write."""


class BackendUnavailable(BeatdError, ConnectionError):
    """A broker, state store or lease store cannot be reached right now."""
