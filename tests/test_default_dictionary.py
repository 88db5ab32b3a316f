"""The task-aware space for quickdraw:cat-vs-rest on the *default* dictionary (the packaged configs/dictionary.yml).

Slow: it needs the default dictionary with its architectures. It uses ``$TANAS_DEFAULT_DICTIONARY`` or
``runs/dictionary`` when that holds all ten entries with architectures, and otherwise builds one into a temporary
directory with the project's own commands (about 12 minutes on 2 CPU cores). Run with ``make test-slow``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tanas_nni.core.resources import copy_templates
from tanas_nni.dictionary import DictionaryStore
from tanas_nni.distance import distances_to
from tanas_nni.pipeline import task_aware_space
from tanas_nni.space import Architecture

ROOT = Path(__file__).resolve().parents[1]
TARGET = "quickdraw:cat-vs-rest"
K = 3

pytestmark = pytest.mark.slow


def _complete(root: Path) -> bool:
    try:
        store = DictionaryStore.open(root)
        entries = store.entries()
    except Exception:
        return False
    return len(entries) == 10 and all(e.architecture for e in entries)


@pytest.fixture(scope="module")
def default_store(data_dir, tmp_path_factory) -> DictionaryStore:
    for candidate in (os.environ.get("TANAS_DEFAULT_DICTIONARY"), ROOT / "runs" / "dictionary"):
        if candidate and _complete(Path(candidate)):
            return DictionaryStore.open(candidate)
    work = tmp_path_factory.mktemp("default")
    copy_templates(work)
    config, root = work / "configs" / "dictionary.yml", work / "dictionary"
    for step in ("build", "architectures"):
        subprocess.run([sys.executable, "-m", "tanas_nni.cli", "dictionary", step, str(config), "-d", str(root),
                        "--data-dir", str(data_dir)], check=True)
    return DictionaryStore.open(root)


def test_task_aware_space_holds_only_what_the_k_nearest_use(default_store, data_dir):
    ranked = distances_to(TARGET, default_store, "fisher", data_dir=data_dir)
    assert len(ranked) == 10
    nearest = [task for task, _ in ranked[:K]]
    archs = {e.task: Architecture.from_dict(e.architecture["arch"]) for e in default_store.entries()}
    near = [archs[t] for t in nearest]

    space = task_aware_space(TARGET, default_store, method="fisher", k=K, data_dir=data_dir)
    assert [t for t, _, _ in space.neighbours] == nearest
    assert space.base_architectures == near
    assert set(space.spec.skeletons) == {a.skeleton for a in near}
    assert set(space.spec.cells) == {a.cell.topology for a in near}
    assert set(space.spec.operations) == set().union(*(a.operations() for a in near))
    # The space is narrower than the dictionary: operations and skeletons that only the other seven tasks use exist,
    # and are not in it. Nothing generated leaves it.
    others = [a for t, a in archs.items() if t not in nearest]
    only_ops = set().union(*(a.operations() for a in others)) - set().union(*(a.operations() for a in near))
    only_skeletons = {a.skeleton for a in others} - {a.skeleton for a in near}
    assert only_ops and not only_ops & set(space.spec.operations)
    assert only_skeletons and not only_skeletons & set(space.spec.skeletons)
    for arch in space.candidates(40, seed=0):
        assert space.contains(arch)
        assert arch.skeleton in space.spec.skeletons and arch.cell.topology in space.spec.cells
        assert arch.operations() <= set(space.spec.operations)
    # Closeness weights: nearest first, summing to one.
    weights = [w for _, _, w in space.neighbours]
    assert weights == sorted(weights, reverse=True) and abs(sum(weights) - 1) < 1e-6
