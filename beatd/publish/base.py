"""The transport contract: hand built messages to a broker, all of them or say how many."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from kombu.utils.url import maybe_sanitize_url

from beatd.errors import BackendUnavailable
from beatd.publish.message import Message


class PublishFailed(BackendUnavailable):
    """The broker failed part-way through a publish; retry the whole call with backoff.

    `published` messages (the first ones, in order) are known to be on the broker;
    the rest may or may not be. Re-publishing all of them is safe: each run keeps its
    deterministic task id, so a consumer can drop the copies.
    """

    def __init__(self, message: str, *, published: int, total: int) -> None:
        super().__init__(message)
        self.published = published
        self.total = total


class Transport(ABC):
    """Publishes Messages to one broker.

    A transport owns its connection and reconnects on the next `publish` after a
    failure. One transport is used by one thread at a time.
    """

    def __init__(self, url: str) -> None:
        # Kept with the password masked: it goes into every error message.
        self.safe_url = str(maybe_sanitize_url(url))

    @abstractmethod
    def publish(self, messages: Sequence[Message]) -> None:
        """Publish messages, in order, each to its queue (declared first if need be).

        When this returns every message is on the broker and, where the broker
        acknowledges publishes (AMQP publisher confirms, a Redis reply), acknowledged,
        so the caller may record the runs as sent. Calling it again with the same
        messages is safe: task ids are deterministic, so a re-sent run is a duplicate
        consumers can recognise, never a new run.

        Raises:
            PublishFailed: (a BackendUnavailable) the broker could not be reached or
                refused a message; the error says how many of the messages were
                published before it happened.
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

    def _failure(self, exc: BaseException, *, published: int, total: int) -> PublishFailed:
        """The error to raise when the broker failed after `published` of `total` messages."""
        return PublishFailed(
            f"broker {self.safe_url} failed after {published} of {total} messages were published: "
            f"{type(exc).__name__}: {exc}; retry the publish (task ids are stable, so resent runs are duplicates)",
            published=published,
            total=total,
        )
