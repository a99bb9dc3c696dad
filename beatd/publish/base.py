"""The transport contract: hand built messages to a broker and say what it did with each."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from kombu.utils.url import maybe_sanitize_url

from beatd.errors import BackendUnavailable
from beatd.publish.message import Message


@dataclass(slots=True)
class PublishResult:
    """What the broker did with one publish call's messages."""

    # index in `messages` -> the broker's reason; every other message is on the broker
    refused: dict[int, str] = field(default_factory=dict)
    # runs the broker had already taken (Redis high-water mark): nothing pushed, count as sent
    already_sent: int = 0


class PublishFailed(BackendUnavailable):
    """The broker failed part-way through a publish (connection lost, timeout); retry with backoff.

    The first `published` messages are settled: each is on the broker, or refused by it
    (`refused`, index -> reason, only indexes below `published`). The rest may or may not
    be on the broker: a timeout never proves a write did not happen. Re-publishing them
    is safe: on Redis the high-water mark drops what was taken, and elsewhere each run
    keeps its deterministic task id, so a consumer can drop the copy.
    """

    def __init__(self, message: str, *, published: int, total: int, refused: Mapping[int, str] | None = None) -> None:
        super().__init__(message)
        self.published = published
        self.total = total
        self.refused = dict(refused or {})


class Transport(ABC):
    """Publishes Messages to one broker.

    A transport owns its connection and reconnects on the next `publish` after a
    failure. One transport is used by one thread at a time.
    """

    def __init__(self, url: str) -> None:
        # Kept with the password masked: it goes into every error message.
        self.safe_url = str(maybe_sanitize_url(url))

    @abstractmethod
    def publish(self, messages: Sequence[Message]) -> PublishResult:
        """Publish messages, in order, each to its queue (declared first if need be).

        When this returns, every message not in the result's `refused` is on the broker
        and, where the broker acknowledges publishes (AMQP publisher confirms, a Redis
        reply), acknowledged, so the caller may record those runs as sent. A message the
        broker refuses (a Redis list key of another type, an AMQP basic.nack or a
        channel error its publish caused) is refused alone: the others still go.

        Calling it again with the same messages is safe. On Redis a run the broker
        already took is not pushed again (it counts in `already_sent`); elsewhere task
        ids are deterministic, so a re-sent run is a duplicate consumers can recognise.

        Raises:
            PublishFailed: (a BackendUnavailable) the broker could not be reached or the
                connection failed part-way; the error says which messages were settled.
        """

    def forget_marks(self, entry_names: Iterable[str]) -> None:
        """Drop what the broker remembers of these entries' sent runs (entries removed).

        Only brokers that keep a per-entry high-water mark (Redis) have anything to drop;
        a name added again later then starts fresh.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice. The transport is not used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _failure(self, exc: BaseException, *, published: int, total: int,
                 refused: Mapping[int, str] | None = None) -> PublishFailed:
        """The error to raise when the broker failed after settling the first `published` of `total` messages."""
        return PublishFailed(
            f"broker {self.safe_url} failed after {published} of {total} messages were published: "
            f"{type(exc).__name__}: {exc}; retry the publish (task ids are stable, so resent runs are duplicates)",
            published=published,
            total=total,
            refused=refused,
        )
