"""Test fixtures: real services, started by the tests (see docs/contracts.md)."""

pytest_plugins = ["tests.fixtures.redis", "tests.fixtures.experiment", "tests.fixtures.server", "tests.fixtures.ratings"]
