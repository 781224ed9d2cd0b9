"""Loaded by pytest before anything else: test runs use the DEBUG defaults unless told
otherwise, and Django is set up here so tests/conftest.py may import models.
(DJANGO_SETTINGS_MODULE is set here rather than in pyproject so these defaults apply first.)"""
import os

import django

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
# One behaviour on both databases: tests call the sync task inline, with no cluster to run the
# parts of a split run; tests/engine/test_parallel.py turns the split on and runs the parts.
os.environ.setdefault("SYNC_PARALLEL", "false")
django.setup()
