from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Login everywhere. For an htmx request whose session expired, send the whole browser to
    the login page (HX-Redirect) instead of swapping the login form into a table cell."""

    def handle_no_permission(self, request, view_func):
        if getattr(request, "htmx", False):
            current = request.htmx.current_url or request.get_full_path()
            parts = urlsplit(current)
            next_path = parts.path + (f"?{parts.query}" if parts.query else "")
            login = redirect_to_login(next_path, self.get_login_url(view_func), self.get_redirect_field_name(view_func))
            return HttpResponseClientRedirect(login.url)
        return super().handle_no_permission(request, view_func)
