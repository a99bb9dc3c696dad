"""URLs of beatd's Django tests: the admin at /admin/."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
