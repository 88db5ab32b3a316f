"""The side-by-side comparison: one target, one data split, one seed, one retraining recipe, many methods.

- :mod:`.registry` — :func:`register_method`: a method's run function, display name, kind, budget dataclass and
  settings in one registration; the config, the records, ``tanas compare --list``, the report and the nnictl trial stage
  read it.
- :mod:`.config` — :class:`CompareConfig` (``configs/compare.yml``) and its named budgets (:class:`CompareBudget`).
- :mod:`.methods` — the built-in methods: FUSE on the task-aware and the standard space, NNI's DARTS, random search and
  RandomOneShot on the cell form of the task-aware space, and handcrafted networks.
- :mod:`.run` — :func:`run_method`, :func:`run_comparison` and the records they write, one per method.
"""
from .registry import (KINDS, METHODS, Context, MethodSpec, Outcome, SearchEpoch, check_method, display_name,
                       method_kind, method_names, method_spec, register_method, unregister_method)
from .config import CompareBudget, CompareConfig, load_compare_config
from .methods import HandcraftedBudget, OneShotBudget, RandomBudget
from .run import load_records, record_path, run_comparison, run_method, settings_of, target_dir

__all__ = ["KINDS", "METHODS", "Context", "MethodSpec", "Outcome", "SearchEpoch", "check_method", "display_name",
           "method_kind", "method_names", "method_spec", "register_method", "unregister_method", "CompareBudget",
           "CompareConfig", "load_compare_config", "HandcraftedBudget", "OneShotBudget", "RandomBudget",
           "load_records", "record_path", "run_comparison", "run_method", "settings_of", "target_dir"]
