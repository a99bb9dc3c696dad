"""Last-run state in Redis: one hash of records, fenced and upserted by Lua scripts.

Keys, for prefix "beatd":

    beatd:state          hash: entry name -> {"scheduled_at": ISO, "sent_at": ISO, "run_count": n}
    beatd:state:fence    the highest lease token that has written (decimal string)
    beatd:state:format   the state format version of the hash's values
    beatd:state:faults   hash: entry name -> {"reason", "detail", "since": ISO, "attempts"}: entries held back

Instants are UTC ISO strings of one fixed width (2026-03-29T01:00:00.000000Z), so the
scripts compare them as strings and they read well in redis-cli. Each write is one script,
and Redis runs a script atomically: the fence check, the no-backwards rule and the HSET
see no other client in between.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files

import redis
from redis.commands.core import Script

from beatd.errors import BackendUnavailable
from beatd.state.base import STATE_FORMAT_VERSION, EntryFault, RunRecord, StateStore
from beatd.urls import redact_url, redis_client_url


def _script(name: str) -> str:
    return files("beatd.state").joinpath(name).read_text(encoding="utf-8")


# Run by both scripts before anything else. KEYS: the records hash, the fence token, the
# format version. ARGV[1]: the writer's token, ARGV[2]: the format version it writes.
# Tokens are compared as decimal strings (shorter is smaller, then character order), which
# stays exact beyond the 2^53 where Lua's numbers stop counting whole units.
_FENCE_CHECK = _script("redis_fence_check.lua")

# ARGV[3..]: name, scheduled_at, value for each record. Every decision is made before the
# first write, so an error (a stored value that is not JSON) leaves the batch unwritten.
_RECORD = _FENCE_CHECK + _script("redis_record.lua")

# ARGV[3..]: the entry names to drop (from the records, and from the faults: KEYS[4]).
_FORGET = _FENCE_CHECK + _script("redis_forget.lua")

# ARGV[3]: how many recovered names follow; then those names; then name, value pairs of faults.
_RECORD_FAULTS = _FENCE_CHECK + _script("redis_record_faults.lua")


class RedisStateStore(StateStore):
    """A StateStore in one Redis hash, for a redis://, rediss:// or unix:// URL or a client.

    The store closes only a client it created. Durability after `record` returns is the
    server's: with `appendonly yes` and `appendfsync always` a recorded run survives a
    crash of Redis itself; a kill -9 of beatd never loses one in any configuration.
    A timeout while a script runs leaves its outcome unknown (BackendUnavailable); the
    next record settles it, as runs are idempotent under the no-backwards rule.

    Raises:
        ConfigError: the hash was written by a newer beatd.
        BackendUnavailable: Redis cannot be reached.
    """

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None, prefix: str = "beatd") -> None:
        if (url is None) == (client is None):
            raise TypeError("RedisStateStore takes exactly one of url or client")
        self._owns_client = client is None
        if client is None:
            # Fail fast with BackendUnavailable instead of hanging when the server is gone;
            # timeouts given in the URL's query take precedence over these.
            client = redis.Redis.from_url(str(url), socket_connect_timeout=5.0, socket_timeout=30.0)
        self.client = client
        self._where = redact_url(url) if url is not None else redis_client_url(client)
        self._prefix = prefix
        self._keys = [f"{prefix}:state", f"{prefix}:state:fence", f"{prefix}:state:format", f"{prefix}:state:faults"]
        self._record_script = client.register_script(_RECORD)
        self._forget_script = client.register_script(_FORGET)
        self._record_faults_script = client.register_script(_RECORD_FAULTS)
        with self._closed_on_error(), self._backend_errors():
            client.set(self._keys[2], STATE_FORMAT_VERSION, nx=True)
            self._check_format(client.get(self._keys[2]))

    def __repr__(self) -> str:
        return f"RedisStateStore({self._where!r}, prefix={self._prefix!r})"

    def load(self) -> dict[str, RunRecord]:
        with self._backend_errors():
            pipeline = self.client.pipeline(transaction=True)
            pipeline.get(self._keys[2])
            pipeline.hgetall(self._keys[0])
            stored_format, values = pipeline.execute()
        self._check_format(stored_format)
        records = {}
        for raw_name, raw_value in values.items():
            name = _text(raw_name)
            fields = json.loads(raw_value)
            records[name] = RunRecord(
                entry=name,
                scheduled_at=_parse_instant(fields["scheduled_at"]),
                sent_at=_parse_instant(fields["sent_at"]),
                run_count=fields["run_count"],
            )
        return records

    def _write_records(self, records: Sequence[RunRecord], token: int) -> None:
        arguments: list[str] = []
        for run in records:
            scheduled_at = _format_instant(run.scheduled_at)
            value = {"scheduled_at": scheduled_at, "sent_at": _format_instant(run.sent_at), "run_count": run.run_count}
            arguments += [run.entry, scheduled_at, json.dumps(value, separators=(",", ":"))]
        self._run(self._record_script, token, arguments)

    def _drop_entries(self, entry_names: Sequence[str], token: int) -> None:
        self._run(self._forget_script, token, entry_names)

    def load_faults(self) -> dict[str, EntryFault]:
        with self._backend_errors():
            values = self.client.hgetall(self._keys[3])
        faults = {}
        for raw_name, raw_value in values.items():
            name, fields = _text(raw_name), json.loads(raw_value)
            faults[name] = EntryFault(entry=name, reason=fields["reason"], detail=fields["detail"],
                                      since=_parse_instant(fields["since"]), attempts=fields["attempts"])
        return faults

    def _write_faults(self, failing: Sequence[EntryFault], recovered: Sequence[str], token: int) -> None:
        arguments = [str(len(recovered)), *recovered]
        for fault in failing:
            value = {"reason": fault.reason, "detail": fault.detail, "since": _format_instant(fault.since),
                     "attempts": fault.attempts}
            arguments += [fault.entry, json.dumps(value, separators=(",", ":"))]
        self._run(self._record_faults_script, token, arguments)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _run(self, script: Script, token: int, arguments: Sequence[str]) -> None:
        with self._backend_errors():
            reply = script(keys=self._keys, args=[str(token), str(STATE_FORMAT_VERSION), *arguments])
        status, detail = _text(reply[0]), _text(reply[1]) if len(reply) > 1 else ""
        if status == "newer-format":
            raise self._newer_format(int(detail))
        if status == "fenced":
            raise self._fenced_off(token, detail)

    @contextmanager
    def _backend_errors(self) -> Iterator[None]:
        """Turn "cannot reach Redis" into BackendUnavailable, without the password."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BackendUnavailable(f"state store {self._where} is unavailable: {exc}") from exc


def _format_instant(instant: datetime) -> str:
    """UTC, always with six fractional digits and a four-digit year: one width for all."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _text(value: bytes | str) -> str:
    """Replies are bytes unless the caller's client decodes them."""
    return value.decode("utf-8") if isinstance(value, bytes) else value
