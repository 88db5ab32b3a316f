"""Shared fixtures: the real offline datasets and a tiny real dictionary, built once per test session."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TANAS_TEST_DATA_DIR", REPO.parent / "shared" / "datasets")).resolve()

# Tests are small; two threads is what CI has.
torch.set_num_threads(min(2, torch.get_num_threads()))
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")

# A standard-space file small enough for searches that take seconds.
TINY_SPACE = """
name: tiny
operations: [sep_conv_3x3, dil_conv_3x3, max_pool_3x3, avg_pool_3x3, skip_connect]
skeletons:
  - {stem: [4, 8], cells: 2, reductions: [0, 1]}
cells:
  - {name: single, nodes: 2, edges: [[0, 1]]}
  - {name: chain2_res, nodes: 3, edges: [[0, 1], [1, 2], [0, 2]]}
"""

TINY_TASKS = ["mnist:0-vs-rest", "mnist:1-vs-rest", "fashion-mnist:trouser-vs-rest", "fashion-mnist:coat-vs-rest"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "MNIST" / "raw").is_dir():
        pytest.fail(f"offline datasets not found at {DATA_DIR}; set TANAS_TEST_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def tiny_dictionary_config(data_dir, tmp_path_factory):
    """A 4-task dictionary config with a budget of seconds (600 training examples, 3 epochs)."""
    from tanas_nni.dictionary import DictionaryConfig
    from tanas_nni.dictionary.build import NetworkConfig, SampleConfig
    from tanas_nni.training import TrainConfig

    return DictionaryConfig(tasks=list(TINY_TASKS), dictionary=str(tmp_path_factory.mktemp("dict") / "dictionary"),
                            data_dir=str(data_dir), seed=0, samples=SampleConfig(600, 200, 400),
                            network=NetworkConfig(width=8, features=32),
                            training=TrainConfig(epochs=3, batch_size=64))


@pytest.fixture(scope="session")
def tiny_dictionary(tiny_dictionary_config):
    """A built 4-task dictionary (read-only for tests: copy it before changing it)."""
    from tanas_nni.dictionary import build_dictionary

    return build_dictionary(tiny_dictionary_config, log=lambda m: None)
