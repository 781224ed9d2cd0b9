"""Every R-id the console prints links to its rule on the Rules page, with the rule's title as a
tooltip: `{{ text|rule_links }}` for text that cites rules, `{% rule "R7" %}` in a template."""
from __future__ import annotations

import re
from functools import cache

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from sync.rulebook import BY_ID

register = template.Library()
RULE_ID = re.compile(r"\bR(?:1[01]|[1-9])\b")


@register.simple_tag
def rule(rule_id: str) -> str:
    return _link(rule_id, get_script_prefix())


@cache
def _link(rule_id: str, prefix: str) -> str:
    # The same few links on every page (a duplicates page prints one per group): made once per
    # rule and URL prefix, as reversing and formatting them each time cost a fifth of its render.
    found = BY_ID.get(rule_id)
    if found is None:
        return conditional_escape(rule_id)
    return format_html('<a class="rule" href="{}#{}" title="{} – {}">{}</a>', reverse("sync:rules"), found.anchor,
                       found.id, found.title, found.id)


@register.filter
def rule_links(text) -> str:
    """Escapes the text (it may hold CRM values), then links each R-id in it."""
    escaped = str(conditional_escape("" if text is None else text))
    return mark_safe(RULE_ID.sub(lambda m: rule(m.group(0)), escaped))
