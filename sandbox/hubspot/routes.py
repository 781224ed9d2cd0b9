"""Which HTTP methods each HubSpot path answers, for the 405 a wrong method gets.

HubSpot answers a known path with a method it does not serve with `405 Method Not Allowed`, an
empty body and an `Allow` header (seen on the v2 companies API: HubSpot/hubspot-php#203, 2019:
`Content-Length: 0`, `Allow: POST,GET,OPTIONS`). For the v3/v4 CRM paths the same answer is
UNCONFIRMED. As in JAX-RS routing, a literal segment beats a template one: `GET …/contacts/search`
is a 405 (search is POST only), not a read of a record whose id is "search".
"""
from __future__ import annotations

import re

_ID = r"[^/]+"
# (path pattern, methods); the first pattern that matches decides
ROUTES = [(re.compile(rx + r"/*$"), methods) for rx, methods in (
    (rf"^/crm/v3/objects/{_ID}", ("GET", "POST")),
    (rf"^/crm/v3/objects/{_ID}/(search|merge|gdpr-delete)", ("POST",)),
    (rf"^/crm/v3/objects/{_ID}/batch/(read|create|update|upsert|archive)", ("POST",)),
    (rf"^/crm/v3/objects/{_ID}/{_ID}", ("GET", "PATCH", "DELETE")),
    (rf"^/crm/v4/objects/{_ID}/{_ID}/associations/{_ID}", ("GET",)),
    (rf"^/crm/v4/objects/{_ID}/{_ID}/associations/default/{_ID}/{_ID}", ("PUT",)),
    (rf"^/crm/v4/objects/{_ID}/{_ID}/associations/{_ID}/{_ID}", ("PUT", "DELETE")),
    (rf"^/crm/v4/associations/{_ID}/{_ID}/batch/(read|create|archive|associate/default|labels/archive)", ("POST",)),
    (rf"^/crm/v4/associations/{_ID}/{_ID}/labels", ("GET",)),
    (rf"^/crm/v3/properties/{_ID}", ("GET", "POST")),
    (rf"^/crm/v3/properties/{_ID}/{_ID}", ("GET", "PATCH", "DELETE")),
    (rf"^/crm/v3/pipelines/{_ID}(/{_ID}(/stages(/{_ID})?)?)?", ("GET",)),
    (r"^/crm/v3/lists", ("GET", "POST")),
    (r"^/crm/v3/lists/search", ("POST",)),
    (rf"^/crm/v3/lists/object-type-id/{_ID}/name/{_ID}", ("GET",)),
    (rf"^/crm/v3/lists/records/{_ID}/{_ID}/memberships", ("GET",)),
    (rf"^/crm/v3/lists/{_ID}", ("GET", "DELETE")),
    (rf"^/crm/v3/lists/{_ID}/restore", ("PUT",)),
    (rf"^/crm/v3/lists/{_ID}/memberships", ("GET", "DELETE")),
    (rf"^/crm/v3/lists/{_ID}/memberships/(add|remove|add-and-remove)", ("PUT",)),
    (rf"^/contacts/v1/secondary-email/{_ID}/email/{_ID}", ("DELETE",)),
    (r"^/account-info/[^/]+/details", ("GET",)),
    (r"^/account-info/[^/]+/api-usage/daily(/[^/]+)?", ("GET",)),
)]


def allowed(path: str) -> tuple[str, ...] | None:
    """The methods `path` answers, or None for a path HubSpot does not have."""
    for rx, methods in ROUTES:
        if rx.match(path):
            return methods
    return None
