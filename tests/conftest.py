"""Shared fixtures: the real offline datasets and a tiny real dictionary, built once per test session."""
from __future__ import annotations

import os
import signal
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# The data the CLI reads ($TANAS_DATA_DIR), unless the tests are pointed elsewhere; else the offline copy beside the
# checkout.
DATA_DIR = Path(os.environ.get("TANAS_TEST_DATA_DIR") or os.environ.get("TANAS_DATA_DIR")
                or REPO.parent / "shared" / "datasets").resolve()

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


def run_killed_on(cmd: list[str], kill_after: str | None = None) -> int:
    """Run ``cmd`` in a real process; SIGKILL it as soon as a stderr line contains ``kill_after``. Its exit code."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        if kill_after and kill_after in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=300)
    return proc.returncode


@pytest.fixture(scope="session")
def run_killed():
    """:func:`run_killed_on`, for kill-and-resume tests."""
    return run_killed_on


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "MNIST" / "raw").is_dir():
        pytest.fail(f"offline datasets not found at {DATA_DIR}; set TANAS_DATA_DIR (or TANAS_TEST_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def tiny_dictionary_config(data_dir, tmp_path_factory):
    """A 4-task dictionary config with a budget of seconds (600 training examples, 3 epochs)."""
    from tanas_nni.dictionary import DictionaryConfig
    from tanas_nni.data import SplitSizes
    from tanas_nni.dictionary.build import NetworkConfig
    from tanas_nni.training import TrainConfig

    return DictionaryConfig(tasks=list(TINY_TASKS), dictionary=str(tmp_path_factory.mktemp("dict") / "dictionary"),
                            data_dir=str(data_dir), seed=0, samples=SplitSizes(600, 200, 400),
                            network=NetworkConfig(width=8, features=32),
                            training=TrainConfig(epochs=3, batch_size=64))


@pytest.fixture(scope="session")
def tiny_dictionary(tiny_dictionary_config):
    """A built 4-task dictionary (read-only for tests: copy it before changing it)."""
    from tanas_nni.dictionary import build_dictionary

    return build_dictionary(tiny_dictionary_config, log=lambda m: None)


# The bad-input catalogue: every test that feeds a command, a YAML entry point or the API malformed files, unknown names,
# wrong types, out-of-range numbers, missing or empty data or wrong image shapes, and checks for a one-line error (exit
# code 2 from the CLI) with nothing changed on disk. They are marked `bad_input`, and the summary counts the cases.
BAD_INPUT_TESTS = {
    "test_bad_config_is_refused_and_dictionary_untouched", "test_cosine_weight_schedule_runs_and_bad_name_is_refused",
    "test_missing_config_file", "test_missing_data_files",
    "test_unwritable_dictionary_directory", "test_truncated_weight_file", "test_unknown_entry_and_missing_dictionary",
    "test_argparse_errors_are_one_line_exit_2", "test_console_script_exit_code_in_a_real_process",
    "test_task_id_errors_are_one_line", "test_unknown_dataset_and_class", "test_missing_files_offline_error_names_the_place",
    "test_truncated_idx_file", "test_user_dataset_with_mixed_image_sizes_is_refused",
    "test_cli_bad_input", "test_cli_empty_dictionary", "test_unknown_schedule_is_a_one_line_error",
    "test_probe_without_a_head_and_unknown_recorded_criterion_are_one_line_errors",
    "test_bad_spaces_are_refused", "test_bad_input_gives_one_line_and_exit_2", "test_empty_candidate_list_is_refused",
    "test_malformed_space_is_refused_with_one_line", "test_a_corrupt_shipped_file_is_one_line", "test_missing_space_file", "test_invalid_architecture_is_refused",
    "test_truncated_weights_detected_with_entry_id", "test_open_errors", "test_bad_inputs",
    "test_distance_stage_bad_input_fails_the_trial", "test_bad_input_is_one_line_exit_2", "test_recipe_validation",
    "test_nan_loss_names_stage_task_and_step", "test_a_broken_category_file_is_one_line_naming_it",
    "test_a_bad_search_config_is_one_line_and_writes_nothing", "test_bad_search_flags_are_one_line_and_write_nothing",
    "test_bad_input_across_commands", "test_download_offline_is_one_line_naming_the_file_and_leaves_nothing",
    "test_init_refuses_to_overwrite_and_a_file_as_folder",
    "test_bad_max_params_is_one_line", "test_bad_max_params_in_a_config_and_an_impossible_budget",
    "test_bad_add_inputs", "test_an_experiment_given_another_space_is_refused",
}
_bad_input_results: dict[str, str] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "bad_input: a case of the bad-input catalogue (counted in the summary)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(item, "originalname", item.name) in BAD_INPUT_TESTS:
            item.add_marker("bad_input")
    # On a whole-suite run, a catalogue name that matches no test (a renamed test) is an error, not a silent drop.
    paths = {Path(config.invocation_params.dir, a).resolve() for a in config.args}
    if not config.option.keyword and paths <= {REPO, REPO / "tests"}:
        missing = BAD_INPUT_TESTS - {getattr(i, "originalname", i.name) for i in items}
        if missing:
            raise pytest.UsageError(f"tests/conftest.py BAD_INPUT_TESTS names no test: {', '.join(sorted(missing))}")


_SKIP = {".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis"}


def _disk_state(*roots: Path) -> dict:
    state = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP]
            for name in filenames:
                st = os.stat(os.path.join(dirpath, name))
                state[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
            state[dirpath] = "dir"
    return state


@pytest.fixture(autouse=True)
def _catalogue_leaves_the_disk_alone(request):
    """Every catalogue case: nothing in the checkout (its runs/ included) or the data changes while it runs. The cases
    that write into folders of their own compare those byte for byte too."""
    if request.node.get_closest_marker("bad_input") is None:
        yield
        return
    before = _disk_state(REPO, DATA_DIR)
    yield
    after = _disk_state(REPO, DATA_DIR)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"a bad input changed the disk: {changed[:3]}"


def pytest_runtest_logreport(report):
    if report.when == "call" and "bad_input" in report.keywords:
        _bad_input_results[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter):
    if _bad_input_results:
        passed = sum(1 for o in _bad_input_results.values() if o == "passed")
        terminalreporter.write_line(f"bad-input catalogue: {len(_bad_input_results)} cases tried, {passed} refused "
                                    f"cleanly")
