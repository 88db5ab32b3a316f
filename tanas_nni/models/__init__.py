"""Networks with a fixed architecture: the dictionary's representative network and the handcrafted baselines."""
from .tasknet import TaskNet, build_network, NETWORKS

__all__ = ["TaskNet", "build_network", "NETWORKS"]
