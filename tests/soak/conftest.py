from tests.engine.conftest import _server, crm, hs, sf  # noqa: F401 - the engine tests' sandbox fixtures
