"""Tests against real NVIDIA Dynamo (frontend + mocker engines), on CPU.

They need the Dynamo backend (`python -m deployments.dynamo install`). Where it is missing
they skip, with that command as the reason; under FAULTSUITE_REQUIRE_DYNAMO=1 (set by
`.ci/run`, which installs it) they fail instead, so CI can never pass them by skipping.
"""

import os

import pytest

from deployments.dynamo import DynamoEnvironment, dynamo_environment

REQUIRE_DYNAMO = os.environ.get("FAULTSUITE_REQUIRE_DYNAMO") == "1"


@pytest.fixture(scope="session")
def dynamo() -> DynamoEnvironment:
    """The installed Dynamo environment, its model files built; skips (or fails, under
    FAULTSUITE_REQUIRE_DYNAMO=1) where it is not installed."""
    environment = dynamo_environment()
    if not environment.installed():
        reason = f"the Dynamo backend is not installed in {environment.root}: run `python -m deployments.dynamo install`"
        if REQUIRE_DYNAMO:
            pytest.fail("FAULTSUITE_REQUIRE_DYNAMO=1 but " + reason, pytrace=False)
        pytest.skip(reason)
    environment.model_dir()
    return environment
