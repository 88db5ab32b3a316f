"""Stage 2: the dictionary of base tasks (trained networks, architectures, provenance)."""
from .build import DEFAULT_TASKS, DictionaryConfig, build_dictionary, build_entry, recipe_of, train_entry
from .store import CorruptEntryError, DictionaryStore, Entry

__all__ = ["DEFAULT_TASKS", "DictionaryConfig", "build_dictionary", "build_entry", "recipe_of", "train_entry",
           "CorruptEntryError", "DictionaryStore", "Entry"]
