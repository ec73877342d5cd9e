"""The Dynamo backend: NVIDIA Dynamo in an environment of its own, and what its mocker needs.

Dynamo runs in a virtual environment apart from the suite's (its pins would fight ours, and
`pip install ai-dynamo` cannot resolve on PyPI alone), prepared once by
`python -m deployments.dynamo install`. Deployment files reach it through `{dynamo[KEY]}`.
"""

from deployments.dynamo.environment import DYNAMO_VERSION, DynamoEnvironment, dynamo_environment

__all__ = ["DYNAMO_VERSION", "DynamoEnvironment", "dynamo_environment"]
