"""`python manage.py beatd run` applies changes made through the Django ORM by another process within 2 s.

The daemon runs on examples/django_project (SQLite) and publishes to a SQLite broker file that
nothing consumes; what it did is judged from its `published entry ...` log lines, as in
tests/test_sql_store_daemon.py, whose docstring explains the timing: edits are committed at
half past a second, so a daemon that applies each change at its next poll (twice a second)
publishes an `every: 1` entry within 1.5 s, and the 2 s bound leaves 0.5 s for a loaded machine.
The edits run in `manage.py shell` (another process, another connection), which prints the
instant of its commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import Processes, beatd_command, log_tail, wait_until

from django_tests.example_project import PROJECT, ExampleProject

pytestmark = [pytest.mark.slow]

TAKES_EFFECT_S = 2.0
# Wait for half past a second, run the edit, print when it was committed (autocommit: at once).
EDIT = """
import time
from beatd.contrib.django.models import Entry
time.sleep((1.5 - time.time() % 1) % 1)
{edit}
print(time.time())
"""


def edit(project: ExampleProject, code: str) -> float:
    """Run ORM code in another process at half past a second; the instant it committed."""
    return float(project.run("shell", "--verbosity", "0", "-c", EDIT.format(edit=code)).split()[-1])


def test_saves_and_bulk_updates_made_elsewhere_reach_the_daemon_within_2s(tmp_path: Path,
                                                                         processes: Processes) -> None:
    project = ExampleProject(tmp_path, broker=f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}")
    project.migrate()
    beatd = project.beatd()
    processes.beatds.append(beatd)
    beatd.wait_leading()

    # When an entry is added with save()
    added_at = edit(project, "entry = Entry(name='tick'); entry.set_mapping({'task': 'demo.hello', 'every': 1}); "
                             "entry.save()")
    # Then its first run is published within 2 s
    first = wait_until(lambda: [p for p in beatd.published() if p.entry == "tick"], 10, "first run of tick",
                       lambda: log_tail(beatd.log))[0]
    assert first.scheduled_at.timestamp() - added_at <= TAKES_EFFECT_S, log_tail(beatd.log)

    # When it is disabled with a bulk update() (no save(), no signals)
    disabled_at = edit(project, "Entry.objects.filter(name='tick').update(enabled=False)")
    wait_until(lambda: "entry stores changed: 0 added, 1 changed" in beatd.text(), 10, "the disable applied",
               lambda: log_tail(beatd.log))
    # Then nothing scheduled more than 2 s later is published (an `every: 1` entry would fire every second)
    last = max(p.scheduled_at for p in beatd.published() if p.entry == "tick")
    assert last.timestamp() - disabled_at <= TAKES_EFFECT_S, log_tail(beatd.log)
    print(f"added -> first run scheduled {first.scheduled_at.timestamp() - added_at:.2f} s; "
          f"disabled -> last run scheduled {last.timestamp() - disabled_at:+.2f} s")


def write_config(project: ExampleProject) -> Path:
    """A plain beatd config file whose entries come from the example's Django models."""
    path = project.directory / "beatd.yaml"
    path.write_text(f"broker: {project.broker}\nstate: sqlite:///{project.directory / 'beatd-state.sqlite3'}\n"
                    "stores:\n  - django: mysite.settings\n")
    return path


def test_plain_beatd_run_reads_the_django_store_named_in_its_config(
        tmp_path: Path, processes: Processes, monkeypatch: pytest.MonkeyPatch) -> None:
    project = ExampleProject(tmp_path, broker=f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}")
    project.migrate()
    edit(project, "entry = Entry(name='tick'); entry.set_mapping({'task': 'demo.hello', 'every': 1}); entry.save()")
    # beatd imports mysite.settings as manage.py would (the project's directory on the path);
    # the settings find the test's database in DJANGO_DB
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    monkeypatch.setenv("DJANGO_DB", project.env["DJANGO_DB"])
    beatd = processes.beatd(write_config(project), tmp_path / "beatd.log")
    wait_until(lambda: [p for p in beatd.published() if p.entry == "tick"], 10, "a run of tick",
               lambda: log_tail(beatd.log))


def test_settings_that_cannot_be_imported_are_named_with_the_fix(tmp_path: Path) -> None:
    project = ExampleProject(tmp_path, broker=f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}")
    result = beatd_command("run", "--config", str(write_config(project)), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"{tmp_path / 'beatd.yaml'}: stores: cannot import Django settings 'mysite.settings' "
        "(No module named 'mysite'); run beatd in the directory of manage.py, or put that directory on PYTHONPATH")
