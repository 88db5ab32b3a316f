"""Networks with a fixed architecture: the dictionary's representative network and the handcrafted baselines."""
from .tasknet import NETWORKS, TaskNet, build_network, register_network
from . import handcrafted  # noqa: F401  (registers the baselines)

__all__ = ["TaskNet", "build_network", "register_network", "NETWORKS"]
