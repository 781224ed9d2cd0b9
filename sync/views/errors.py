"""The 403 page names the role an action needs and what it allows. 404 and 500 are Django's own
handlers rendering templates/404.html and templates/500.html (500 without the database or the
request: it must show when either is what failed)."""
from __future__ import annotations

from django.shortcuts import render

from sync.roles import ABILITIES, role_of


def permission_denied(request, exception):
    needed = getattr(exception, "role", None)
    held = role_of(request.user)
    context = {"needed": needed, "needed_allows": ABILITIES.get(needed, ""),
               "held": held, "held_allows": ABILITIES.get(held, "")}
    return render(request, "403.html", context, status=403)
