"""The company and deal pages, each with its Salesforce Sync card (sync.record_queries)."""
from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from sync.record_queries import company_card, deal_card


@require_GET
def company(request, hs_id: str):
    return render(request, "sync/company.html", {"card": company_card(hs_id)})


@require_GET
def deal(request, hs_id: str):
    return render(request, "sync/deal.html", {"card": deal_card(hs_id)})
