"""``tanas compare``: every method of the comparison on one target, in this process (see
:mod:`tanas_nni.experiment.compare`)."""
from __future__ import annotations

from pathlib import Path

from . import print_event

DEFAULT_CONFIG = Path("configs") / "compare.yml"


def register(sub) -> None:
    p = sub.add_parser(
        "compare", help="compare FUSE with NNI's DARTS / random search / RandomOneShot and handcrafted networks",
        description="Run the side-by-side comparison on one target: the same data, seed and retraining recipe for "
                    "every method. Each method writes <results>/<target>/<method>.json; rerunning skips finished "
                    "methods (--force reruns them). `tanas report <results>` makes the table and plot.")
    p.add_argument("--target", help="target task id (default: the config's, quickdraw:cat-vs-rest)")
    p.add_argument("--methods", help="comma-separated methods (default: the config's; see --list)")
    p.add_argument("--config", metavar="YAML",
                   help=f"comparison config (default: {DEFAULT_CONFIG} when it exists, else built-in defaults)")
    p.add_argument("--budget", help="which budget of the config to use (small, benchmark, ...)")
    p.add_argument("--results", metavar="DIR", help="results directory (default: the config's, runs/compare)")
    p.add_argument("--dictionary", "-d", metavar="DIR", help="dictionary directory (default: the config's)")
    p.add_argument("--data-dir", metavar="DIR", help="data root (default: $TANAS_DATA_DIR, else the cache)")
    p.add_argument("--seed", type=int, help="seed of data, search and training (default 0)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--force", action="store_true", help="rerun methods that have a record already")
    p.add_argument("--list", action="store_true", help="list the methods (name, kind, display name) and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(handler=_compare)


def _compare(args) -> int:
    from ..core.logs import quiet_libraries
    from ..experiment.compare import METHODS, check_method, load_compare_config, run_comparison, target_dir

    if args.list:
        width = max(map(len, METHODS), default=0)
        for name, spec in METHODS.items():
            print(f"{name:<{width}}  {spec.kind:<11}  {spec.display}")
        return 0
    config = args.config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    overrides = {"target": args.target, "budget": args.budget, "results": args.results,
                 "dictionary": args.dictionary, "data_dir": args.data_dir, "seed": args.seed, "threads": args.threads}
    methods = None
    if args.methods:
        methods = [check_method(m.strip(), "--methods") for m in args.methods.split(",") if m.strip()]
    cfg = load_compare_config(config, overrides)  # a malformed target fails here, before any work
    quiet_libraries()
    run_comparison(cfg, methods, None if args.quiet else print_event, force=args.force)
    print(target_dir(cfg))
    return 0
