"""`python -m deployments.dynamo install | status`: prepare the Dynamo backend, or say where it is."""

import argparse
import sys

from deployments.dynamo.environment import dynamo_environment
from faultsuite.errors import FaultSuiteError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.dynamo", description=__doc__)
    parser.add_argument("command", choices=["install", "status"])
    args = parser.parse_args(argv)
    environment = dynamo_environment()
    try:
        if args.command == "install":
            environment.install()
            environment.model_dir()
        else:
            environment.require()
            print(f"installed: {environment.root}\npython: {environment.python}\nmodel: {environment.model_dir()}")
    except FaultSuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
