"""A minimal Django project with django-celery-beat, for beatd's tests of the django_celery_beat store.

`dcb(url, action, payload)` runs rows.py (DCB's own models) in a subprocess on the database at url.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

TESTS_DIR = Path(__file__).resolve().parent.parent


def dcb(url: str, action: str, payload: Any = None, **settings: str) -> Any:
    """Run `python -m dcb_project.rows action` on the database at url; `dump` returns its rows."""
    environment = {**os.environ, "BEATD_DCB_DATABASE": url, "DJANGO_SETTINGS_MODULE": "dcb_project.settings",
                   "PYTHONPATH": str(TESTS_DIR), **settings}
    result = subprocess.run([sys.executable, "-m", "dcb_project.rows", action], cwd=TESTS_DIR, env=environment,
                            input=None if payload is None else json.dumps(payload), capture_output=True, text=True,
                            timeout=180, check=False)
    if result.returncode != 0:
        raise AssertionError(f"dcb_project.rows {action} failed:\n{result.stderr}")
    return json.loads(result.stdout) if action == "dump" else None


def beatd_config(directory: Path, broker_url: str, dcb_url: str) -> Path:
    """A beatd config in directory: `stores: [{django_celery_beat: dcb_url}]`, state in SQLite, no leader election."""
    config = {
        "broker": broker_url,
        "state": f"sqlite:///{directory / 'beatd-state.sqlite3'}",
        "leader": {"backend": "none", "lock_file": str(directory / "beatd.lock")},
        "stores": [{"django_celery_beat": dcb_url}],
    }
    path = directory / "beatd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
