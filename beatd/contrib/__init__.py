"""Integrations of beatd with other frameworks (Django)."""
