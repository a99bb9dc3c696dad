"""How the command line shows a BeatdError: its own one-line message, exit 1, no traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import click

from beatd.errors import BeatdError


class UserError(click.ClickException):
    """A BeatdError shown as its own one-line message (file:line: ...), exit 1, no traceback."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a BeatdError raised inside into a UserError."""
    try:
        yield
    except BeatdError as exc:
        raise UserError(str(exc)) from exc
