"""The command line explains itself: every --help summary is a whole sentence, and README lists every command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from beatd.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and subcommand, with its path of names."""
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))


ALL = list(commands(main))


def test_there_are_commands_to_check() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"run", "next", "check", "trigger", "status", "db drop", "db downgrade", "entries add", "import"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(path) for path, _ in ALL])
def test_each_summary_in_help_is_a_whole_sentence(path: tuple[str, ...], command: click.Command) -> None:
    # As `beatd [GROUP] --help` lists it, in an 80-column terminal.
    parent = CliRunner().invoke(main, [*path[:-1], "--help"], terminal_width=80)
    [line] = [line for line in parent.stdout.splitlines() if re.match(rf"  {re.escape(path[-1])}  ", line)]
    summary = line.split(None, 1)[1]
    assert summary[0].isupper(), summary
    assert summary.endswith(".") and not summary.endswith("..."), summary


def command_line_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Command line\n"):text.index("\n## ", text.index("## Command line\n") + 1)]


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(path) for path, _ in ALL])
def test_readme_command_line_section_names_every_command(path: tuple[str, ...], command: click.Command) -> None:
    section = command_line_section()
    if len(path) == 1:
        assert f"beatd {path[0]}" in section
    else:
        # Subcommands are listed as `beatd db drop` or within `beatd entries list|show|...`.
        group_lines = [line for line in section.splitlines() if f"beatd {path[0]} " in line]
        assert any(re.search(rf"(?<![\w-]){re.escape(path[1])}(?![\w-])", line) for line in group_lines), path
