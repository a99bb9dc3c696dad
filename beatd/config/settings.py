"""The settings of a configuration: the Config dataclass, its defaults, and the settings that are converted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Any

from beatd.durations import parse_duration
from beatd.entry import Entry

DEFAULT_BROKER = "sqla+sqlite:///beatd-broker.sqlite3"
DEFAULT_STATE = "sqlite:///beatd-state.sqlite3"
DEFAULT_CATCHUP_LIMIT = 100
MIN_LEASE_TTL = timedelta(seconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderConfig:
    """Which lease backend decides who publishes (DESIGN.md, leader)."""

    backend: str = "none"
    url: str | None = None
    ttl: timedelta = timedelta(seconds=10)
    lock_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A loaded configuration: settings plus every entry from the file and its includes (and a Celery app's)."""

    # The YAML file; None when the configuration is a Celery app's alone (`--app` without `--config`).
    path: Path | None
    timezone: tzinfo = UTC
    broker: str = DEFAULT_BROKER
    # kombu transport options for the broker (a Celery app's broker_transport_options).
    broker_transport_options: dict[str, Any] = field(default_factory=dict)
    # The Celery app (MODULE[:ATTRIBUTE]) whose beat_schedule runs beside the file's entries.
    app: str | None = None
    state: str = DEFAULT_STATE
    leader: LeaderConfig = field(default_factory=LeaderConfig)
    catchup_limit: int = DEFAULT_CATCHUP_LIMIT
    # host:port of the /metrics, /healthz and /readyz endpoint; None: no HTTP server.
    http: str | None = None
    # Whether metrics carry an `entry` label (one series per entry); off for very many entries.
    metrics_per_entry: bool = True
    # Where else entries come from, as (kind, target) pairs: ("sql", URL), ("django", settings module)
    # or ("django_celery_beat", URL).
    stores: tuple[tuple[str, str], ...] = ()
    entries: tuple[Entry, ...] = ()
    # The top-level keys the file set: with an app, the app's broker and zone fill in the others.
    settings_given: frozenset[str] = frozenset()

    @property
    def place(self) -> str:
        """Where the settings come from, for messages: the file, or the app."""
        return str(self.path) if self.path is not None else f"app {self.app}"



_LISTEN_ADDRESS = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]*)):(?P<port>[0-9]{1,5})")


def parse_listen_address(text: str) -> tuple[str, int]:
    """The host and port of `host:port`; IPv6 in brackets (`[::1]:9808`); no host (`:9808`) means 127.0.0.1.

    Raises:
        ValueError: not host:port, or the port is outside 1-65535; the message names the value.
    """
    match = _LISTEN_ADDRESS.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not host:port; write for example 127.0.0.1:9808 (this host only) "
                         "or 0.0.0.0:9808 (every interface)")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} in {text!r} is outside 1-65535")
    return match["ipv6"] or match["host"] or "127.0.0.1", port


def http_address(value: str) -> str:
    """The `http:` setting, checked, with the default host written out."""
    host, port = parse_listen_address(value)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def leader_of(raw: Mapping[str, Any]) -> LeaderConfig:
    backend = raw.get("backend", "none")
    if backend != "none" and not raw.get("url"):
        raise ValueError(f"backend {backend!r} needs a url")
    ttl = parse_duration(raw.get("ttl", 10))
    # Lease tokens are seeded from the store's clock in milliseconds and must outgrow the
    # number of acquisitions, and a sub-second lease leaves no time to renew.
    if ttl < MIN_LEASE_TTL:
        raise ValueError(f"ttl {raw.get('ttl')!r} is shorter than the minimum of 1s")
    return LeaderConfig(backend=backend, url=raw.get("url"), ttl=ttl, lock_file=raw.get("lock_file"))

