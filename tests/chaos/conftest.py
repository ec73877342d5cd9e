"""Live deployments shared by the chaos tests."""

import pytest

from deployments.launcher import LaunchedDeployment
from tests.chaos.live import fast_copy
from tests.live import launched


@pytest.fixture(scope="module")
def dp1(tmp_path_factory, request) -> LaunchedDeployment:
    """A fast agg-dp1 shared by tests that signal nothing."""
    directory = tmp_path_factory.mktemp("dp1")
    return launched(fast_copy(directory), directory / "run", request.addfinalizer)


@pytest.fixture
def fresh_dp1(tmp_path, request) -> LaunchedDeployment:
    """A fast agg-dp1 of the test's own, for tests that kill part of it."""
    return launched(fast_copy(tmp_path), tmp_path / "run", request.addfinalizer)
