"""The vLLM backend: vLLM's CPU build in an environment of its own, and the tiny model it serves.

vLLM runs in a virtual environment apart from the suite's (torch alone is 700 MB, and its pins
would fight ours), prepared once by `python -m deployments.vllm install`. Deployment files
reach it through `{vllm[KEY]}`.
"""

from deployments.vllm.environment import OFFLINE_ENV, VLLM_VERSION, VllmEnvironment, vllm_environment

__all__ = ["OFFLINE_ENV", "VLLM_VERSION", "VllmEnvironment", "vllm_environment"]
