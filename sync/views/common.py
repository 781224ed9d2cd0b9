from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme


def page_or_fragment(request, page: str, fragment: str, context: dict, status: int = 200):
    """htmx requests (except boosted navigation) get the fragment; everyone else the page."""
    partial = bool(request.htmx) and not request.htmx.boosted
    response = render(request, fragment if partial else page, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # a cache must not serve the fragment for a page load
    return response


def back(request, fallback: str, *args):
    """Redirect to the page the form was posted from (same host only), else to `fallback`."""
    target = request.POST.get("next") or request.headers.get("Referer", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback, *args)


def int_param(request, name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.GET.get(name, default)))
    except (TypeError, ValueError):
        return default


def in_words(exc: Exception) -> str:
    """A refusal for a message: a ValidationError's messages joined, never its list's repr."""
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
