from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from sync.rulebook import RULEBOOK


@require_GET
def rules(request):
    """R1–R11 in plain words, an example each, and where the console shows each one at work."""
    return render(request, "sync/rules.html", {"rules": RULEBOOK})
