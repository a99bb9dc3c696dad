"""beatd: a leader-elected periodic task scheduler that publishes Celery task messages."""

__version__ = "0.1.0"
