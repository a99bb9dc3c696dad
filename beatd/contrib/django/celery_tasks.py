"""The task names the project's Celery app registers, which the admin's task field offers (as DCB's admin does).

The app is the one named in settings.BEATD["app"] (MODULE[:ATTRIBUTE], found as `celery -A`
finds it), else the one Celery app the project made (Django's usual `proj/celery.py`,
imported by `proj/__init__.py`). Celery is imported only when the project uses it; without
an app the task field stays free text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from django.conf import settings

APP_KEY = "app"


@dataclass(frozen=True, slots=True)
class RegisteredTasks:
    """What the task field says: the app's task names, or why there are none."""

    # The app, as its setting names it or by its main name; None: no app.
    app: str | None = None
    names: tuple[str, ...] = ()
    # Why the named app could not be read (shown under the field).
    problem: str | None = None

    @property
    def help_text(self) -> str:
        if self.problem:
            return f"{self.problem}; type the task name"
        if self.app is None:
            return "The task's registered name, e.g. reports.send (no Celery app configured: settings.BEATD['app'])"
        return (f"{len(self.names)} tasks registered by the Celery app {self.app} are offered as you type; "
                f"a task registered elsewhere may be typed too")


def registered_tasks() -> RegisteredTasks:
    """The task names of the configured or discovered Celery app, without Celery's own (celery.*)."""
    beatd_settings: Any = getattr(settings, "BEATD", {})
    target = beatd_settings.get(APP_KEY) if isinstance(beatd_settings, dict) else None
    if target:
        try:
            from celery.app.utils import find_app

            app = find_app(str(target))
            names = _task_names(app)
        except Exception as exc:  # noqa: BLE001 -- the project's own code runs here; any error is the app's
            return RegisteredTasks(app=str(target), problem=f"Celery app {target} (settings.BEATD['app']) did not "
                                                            f"load: {type(exc).__name__}: {exc}")
        return RegisteredTasks(app=str(target), names=names)
    app = _project_app()
    if app is None:
        return RegisteredTasks()
    try:
        names = _task_names(app)
    except Exception as exc:  # noqa: BLE001 -- as above: autodiscovery imports the project's task modules
        return RegisteredTasks(app=app.main, problem=f"Celery app {app.main}'s tasks did not load: "
                                                     f"{type(exc).__name__}: {exc}")
    return RegisteredTasks(app=app.main, names=names)


def _task_names(app: Any) -> tuple[str, ...]:
    # Autodiscovery first, as `celery worker` and DCB's admin do, so the tasks of every app are there.
    app.loader.import_default_modules()
    return tuple(sorted(name for name in app.tasks if not name.startswith("celery.")))


def _project_app() -> Any:
    """The one Celery app the project made, or None (no Celery imported, no app, or several).

    Celery's current app is per thread (the server's request threads see its fallback), so the
    apps Celery keeps for shared_task are looked at instead; the fallback and apps made with
    set_as_current=False are not the project's.
    """
    if "celery" not in sys.modules:
        return None
    from celery import _state

    apps = [app for app in _state._get_active_apps() if app.set_as_current]
    return apps[0] if len(apps) == 1 else None
