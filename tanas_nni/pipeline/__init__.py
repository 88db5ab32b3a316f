"""Stage 5: the pipeline, composing the dictionary, a distance, a space and a strategy.

- :func:`run_pipeline` — target → task-aware (or standard) space → FUSE → retrain → test once → export folder;
  :func:`search` and :func:`retrain` are its two halves; :func:`load_exported` reads an export back.
- :func:`task_aware_space` — the preprocessor on a dictionary: distances, the nearest entries' architectures, the space.
- :func:`dictionary_architectures` — each base task's architecture, by the same search.
- :func:`add_to_dictionary` — a solved target (an export folder) stored as a new base task.
- :class:`SearchConfig`, :class:`DictionaryPipelineConfig` and their loaders.
"""
from .config import (SPACES, ArchitectureSearchConfig, DictionaryPipelineConfig, SearchConfig, load_dictionary_config,
                     load_search_config)
from .export import PipelineResult, load_exported, read_architecture
from .search import (SearchResult, default_out, device_description, finalists, retrain, retrain_finalists, run_pipeline,
                     search)
from .space import build_space, entry_architecture, task_aware_space
from .architectures import (arch_parameters, dictionary_architectures, search_key, select_architecture,
                            shipped_architectures)
from .grow import add_to_dictionary, read_export

__all__ = ["SPACES", "ArchitectureSearchConfig", "DictionaryPipelineConfig", "SearchConfig", "load_dictionary_config",
           "load_search_config", "PipelineResult", "load_exported", "read_architecture", "SearchResult",
           "default_out", "device_description", "finalists", "retrain", "retrain_finalists", "run_pipeline", "search",
           "build_space", "entry_architecture", "task_aware_space", "arch_parameters", "dictionary_architectures",
           "search_key", "shipped_architectures", "select_architecture", "add_to_dictionary", "read_export"]
