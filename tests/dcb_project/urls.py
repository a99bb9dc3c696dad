"""DCB's admin at /admin/ (with BEATD_DCB_ADMIN=1)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
