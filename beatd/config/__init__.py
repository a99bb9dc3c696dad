"""beatd's configuration: a YAML file and its includes, read with lines, checked, and built into a Config.

The pipeline, file to Entry, one module after another:
document (YAML with line numbers, ${VAR}) -> schema (the shipped JSON Schema, worded
file:line) -> build (build_entry: one Entry from its checked mapping) -> load
(includes, settings, duplicate names; load_config and check_config). settings holds
the Config dataclass, routes Celery's task_routes, app a Celery app's schedule beside
the file's.
"""

from beatd.config.build import SCHEDULE_KEYS, build_entry, parse_instant, parse_zone
from beatd.config.load import ConfigCheck, check_config, load_config
from beatd.config.schema import SCHEMA_SHORTCUT, validate_entry_mapping
from beatd.config.settings import (
    DEFAULT_BROKER,
    DEFAULT_CATCHUP_LIMIT,
    DEFAULT_STATE,
    MIN_LEASE_TTL,
    Config,
    LeaderConfig,
    parse_listen_address,
)

__all__ = [
    "DEFAULT_BROKER", "DEFAULT_CATCHUP_LIMIT", "DEFAULT_STATE", "MIN_LEASE_TTL", "SCHEDULE_KEYS", "SCHEMA_SHORTCUT",
    "Config", "ConfigCheck", "LeaderConfig", "build_entry", "check_config", "load_config", "parse_instant",
    "parse_listen_address", "parse_zone", "validate_entry_mapping",
]
