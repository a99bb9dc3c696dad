"""The configuration the commands and the daemon run: a YAML file, a Celery app's schedule, or both side by side."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from beatd.config.build import parse_zone
from beatd.config.load import load_config
from beatd.config.settings import Config
from beatd.errors import ConfigError

# Settings a Celery app supplies when the file does not set them.
_APP_SETTINGS = {"broker": "broker", "broker_transport_options": "transport_options"}


def load(config_path: str | Path | None, app: str | None = None) -> Config:
    """The file's configuration with the app's entries beside it; the app alone without a file.

    `app` (from --app or BEATD_APP) wins over the file's `app:` key. Celery is imported
    only when an app is named. With both, the file's broker and transport options win
    where it sets them; the app's entries keep the app's zone, the file's the file's.

    Raises:
        ConfigError: one line naming the file and line, or the app and entry; also
            when an entry name is in both.
    """
    config = load_config(config_path) if config_path is not None else None
    target = app or (config.app if config is not None else None)
    if target is None:
        if config is None:
            raise ConfigError("no configuration: give --config FILE (BEATD_CONFIG) or --app MODULE (BEATD_APP)")
        return config
    from beatd.stores.celery_app import read_app  # Celery is an optional dependency: import it only now

    schedule = read_app(target)
    app_entries = schedule.entries()
    if config is None:
        return Config(path=None, app=target, timezone=parse_zone(schedule.timezone), broker=schedule.broker,
                      broker_transport_options=schedule.transport_options, entries=tuple(app_entries))
    in_file = {entry.name: entry for entry in config.entries}
    for entry in app_entries:
        if entry.name in in_file:
            raise ConfigError(f"{in_file[entry.name].source}: entry {entry.name!r}: the name is also in the "
                              f"beat_schedule of {schedule.place}; rename one of them")
    filled = {setting: getattr(schedule, attribute) for setting, attribute in _APP_SETTINGS.items()
              if setting not in config.settings_given}
    return dataclasses.replace(config, app=target, entries=config.entries + tuple(app_entries), **filled)
