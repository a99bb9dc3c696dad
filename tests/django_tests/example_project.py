"""examples/django_project run as its README says, in a directory of the test's own: for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from processes import BeatdProcess

from django_tests.conftest import DJANGO_TESTS_DIR

PROJECT = DJANGO_TESTS_DIR.parent.parent / "examples" / "django_project"
ADMIN_PASSWORD = "admin-password"


@dataclass(frozen=True)
class ExampleProject:
    """The project with its SQLite database, beatd state and broker chosen by the test (settings read them from env)."""

    directory: Path
    broker: str

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "DJANGO_DB": str(self.directory / "db.sqlite3"), "BEATD_BROKER": self.broker,
               "BEATD_STATE": f"sqlite:///{self.directory / 'beatd-state.sqlite3'}", "PYTHONUNBUFFERED": "1",
               "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
        env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py picks mysite.settings
        return env

    def run(self, *args: str) -> str:
        """`python manage.py ARGS` to completion; its output. Fails the test if it fails."""
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=self.env, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        """`python manage.py ARGS` in the background, writing to log."""
        with log.open("w") as out:
            return subprocess.Popen([sys.executable, "manage.py", *args], cwd=PROJECT, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT)

    def beatd(self) -> BeatdProcess:
        """`python manage.py beatd run`, not yet waited for."""
        log = self.directory / "beatd.log"
        return BeatdProcess(self.start("beatd", "run", log=log), log)

    def migrate(self) -> None:
        """The tables of every app, and the superuser admin."""
        self.run("migrate", "--verbosity", "0")
        self.run("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
