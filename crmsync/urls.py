from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from sync.views import webhooks

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("hooks/hubspot/", webhooks.hubspot, name="hubspot_webhook"),
    path("", include("sync.urls")),
]

handler403 = "sync.views.errors.permission_denied"  # names the role that is missing
