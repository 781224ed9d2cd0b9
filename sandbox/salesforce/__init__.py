"""The Salesforce emulator (REST API v59.0 surface the sync uses, plus SOAP merge, undelete and convertLead)."""
from __future__ import annotations

from sandbox.salesforce.emulator import API_VERSION, SalesforceEmulator

__all__ = ["API_VERSION", "SalesforceEmulator"]
