"""`python -m deployments.vllm install | status`: prepare the vLLM backend, or say where it is."""

import sys

from deployments.backend import main
from deployments.vllm.environment import vllm_environment

if __name__ == "__main__":
    sys.exit(main(vllm_environment(), "python -m deployments.vllm"))
