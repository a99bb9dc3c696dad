"""Moved to beatd.config.app; kept only until beatd.daemon imports `load` from there (the daemon is being restructured)."""

from beatd.config.app import load

__all__ = ["load"]
