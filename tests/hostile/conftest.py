import pytest

from tests.conftest import restore_reference_data
from tests.engine.conftest import _server, crm, hs, sf  # noqa: F401 - the engine tests' sandbox fixtures


@pytest.fixture(autouse=True)
def _reference_data(transactional_db):
    """Role groups, settings and field rules, before the role fixtures ask for them (transactional
    tests empty every table, those rows included)."""
    restore_reference_data()
