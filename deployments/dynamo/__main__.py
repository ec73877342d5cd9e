"""`python -m deployments.dynamo install | status`: prepare the Dynamo backend, or say where it is."""

import sys

from deployments.backend import main
from deployments.dynamo.environment import dynamo_environment

if __name__ == "__main__":
    sys.exit(main(dynamo_environment(), "python -m deployments.dynamo"))
