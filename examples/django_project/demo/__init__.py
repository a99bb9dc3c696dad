"""A demo app with one task to schedule from the admin."""
