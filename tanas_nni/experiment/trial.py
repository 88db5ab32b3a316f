"""NNI trials: each runs one unit of the pipeline in-process and reports to NNI.

``nnictl create`` cannot start NNI's ``nas`` experiment type, so the experiments in ``experiments/`` are HPO-style: the
search space enumerates units of work (a base task, a distance source, a method to compare), a tuner (GridSearch) hands one
to each trial, and the trial runs this module::

    python3 -m tanas_nni.experiment.trial <stage> --config <stage config.yml>

The trial reads its parameters with ``nni.get_next_parameter()``, reports per-epoch intermediate results and a final
dict (``default`` is what NNI's tuner and web UI rank by). Outside NNI the same command runs standalone with the
parameters given as ``--param key=value``. The stages are in :mod:`.stages`; :class:`~.reporter.Reporter` carries
their metrics to the outer NNI trial.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
import warnings

from ..core.errors import EXIT_USAGE, TanasError
from ..core.plugins import load_plugins
from ..core.signals import run_stoppable
from .reporter import Reporter, clean_metric
from .stages import STAGES

__all__ = ["main"]


def _parse_params(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep:
            raise TanasError(f"--param {p!r}: expected key=value")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    # First: a Ctrl-C, or the SIGTERM that `nnictl stop` sends, from here on ends with a line, not a traceback.
    return run_stoppable(lambda: _main(argv), "rerun the experiment (or `nnictl resume`) to resume")


def _main(argv: list[str] | None) -> int:
    try:
        load_plugins()  # plugins' distances, methods and stages, as for the `tanas` command; before the parser
    except TanasError as e:
        print(f"tanas: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
    parser = argparse.ArgumentParser(prog="python -m tanas_nni.experiment.trial",
                                     description="Run one unit of the tanas pipeline as an NNI trial.")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--config", required=True, help="the stage's config YAML")
    parser.add_argument("--dictionary", default=None, help="override the config's dictionary directory")
    parser.add_argument("--data-dir", default=None, help="override the config's data root")
    parser.add_argument("--dictionary-config", default="configs/dictionary.yml",
                        help="pipeline stage: how to build the dictionary when it is missing (default: configs/dictionary.yml in the trial's folder, as `tanas init` writes it)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="parameters when run outside NNI (NNI's own parameters take precedence)")
    args = parser.parse_args(argv)
    try:
        reporter = Reporter()
        params = {**_parse_params(args.param), **reporter.params}
        final = STAGES[args.stage](reporter, args, params)
        reporter.final(final)
        reporter.log(f"final result: {json.dumps(clean_metric(final), sort_keys=True)}")
        return 0
    except TanasError as e:
        # The trial shows as FAILED in NNI, with this line in its stderr log; the experiment goes on with other trials.
        print(f"tanas: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
