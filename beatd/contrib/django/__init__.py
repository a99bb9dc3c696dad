"""beatd's Django app: entries as models, edited in the admin, run by `python manage.py beatd run`.

Add "beatd.contrib.django" to INSTALLED_APPS and run `python manage.py migrate`; docs/django.md
tells the rest.
"""
