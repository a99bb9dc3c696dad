"""A minimal Django project with django-celery-beat, for beatd's tests of the django_celery_beat store."""
