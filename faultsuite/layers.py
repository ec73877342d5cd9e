"""The suite's packages from the bottom up: a module imports only from its own package and
from packages in layers below its own, never sideways or up (`tests/test_layering.py`).

    5  benchmarks                     measurements over everything below
    4  locustfiles                    the run: ties deployment, chaos, samplers, gate, reports
    3  samplers  chaos  gate          read and act on a deployment through its interface;
                                      check a run's summary against its expectations
    2  deployments  reports           the deployment interface and its kinds; rendering, which
                                      reads nothing but a results directory
    1  faultsuite                     errors, clock, YAML, the results layout, events, request
                                      records, the manifest, the samplers' file formats
"""

__all__ = ["LAYERS", "layer_of"]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("faultsuite",),
    ("deployments", "reports"),
    ("samplers", "chaos", "gate"),
    ("locustfiles",),
    ("benchmarks",),
)


def layer_of(package: str) -> int:
    """The layer (0 at the bottom) of a top-level package; KeyError for one not listed."""
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise KeyError(package)
