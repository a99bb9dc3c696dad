"""Tests of the Django app (beatd.contrib.django) and the django store; a package, so its conftest has a name of its own."""
