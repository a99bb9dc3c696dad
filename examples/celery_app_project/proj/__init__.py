"""An example Celery project whose beat schedule beatd takes over (`beatd run --app proj.celery`)."""
