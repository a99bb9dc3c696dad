"""routes: Celery's dict form of task_routes, resolved into the entries' options once at load."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from beatd.entry import Entry

ROUTE_KEYS = ("queue", "exchange", "routing_key", "priority")


def route_for(task: str, routes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The route of a task name as Celery's MapRoute finds it: the exact name first, then the
    first pattern with a `*` in the order written, matched with fnmatch (celery/app/routes.py).

    A route is a mapping of ROUTE_KEYS, or a queue name.
    """
    if task in routes:
        found = routes[task]
    else:
        found = next((route for pattern, route in routes.items()
                      if "*" in pattern and _glob(pattern).match(task)), None)
    if found is None:
        return None
    return {"queue": found} if isinstance(found, str) else dict(found)


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def routed(entries: Iterable[Entry], routes: Mapping[str, Any]) -> list[Entry]:
    """Entries with their task's route filled in, resolved once here: an entry's own options win,
    key by key, as Celery merges a route under the call's options."""
    result = []
    for entry in entries:
        route = route_for(entry.task, routes)
        if route:
            own = {key: getattr(entry.options, key) for key in ROUTE_KEYS}
            merged: dict[str, Any] = {key: own[key] if own[key] is not None else route.get(key) for key in ROUTE_KEYS}
            if merged != own:
                entry = dataclasses.replace(entry, options=dataclasses.replace(entry.options, **merged))
        result.append(entry)
    return result

