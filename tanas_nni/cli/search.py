"""``tanas search``: space -> FUSE -> retrain -> test once -> export folder."""
from __future__ import annotations


from ..core.logs import quiet_libraries
from ..distance import distance_names
from . import print_event


def register(sub) -> None:
    p = sub.add_parser(
        "search", help="search an architecture for a target task, retrain it, export it",
        description="Search an architecture for a target task with FUSE over the task-aware (or standard) space, "
                    "retrain the winner from scratch with the shared recipe, evaluate it once on the test split and "
                    "write an export folder (its files: tanas_nni/pipeline/export.py). Rerunning the same command resumes an interrupted search. Flags override "
                    "--config; every default is in tanas_nni.pipeline.SearchConfig.")
    p.add_argument("--config", metavar="YAML", help="search config (keys of SearchConfig; flags override it)")
    p.add_argument("--target", help="target task id, e.g. quickdraw:cat-vs-rest")
    p.add_argument("--space", help="task-aware (default) or standard")
    p.add_argument("--strategy", help="search strategy: a name registered with tanas_nni.strategy.register_strategy "
                                      "(default fuse)")
    p.add_argument("--dictionary", "-d", metavar="DIR", help="dictionary directory (default runs/dictionary)")
    p.add_argument("--data-dir", metavar="DIR", help="data root (default: $TANAS_DATA_DIR, else the cache)")
    p.add_argument("--k", type=int, help="nearest base tasks that shape the task-aware space (default 3)")
    p.add_argument("--method", help=f"task distance: {', '.join(distance_names())} (default fisher)")
    p.add_argument("--tau", type=float, help="closeness temperature of the neighbour weights")
    p.add_argument("--space-file", metavar="YAML", help="standard space file (default search_spaces/standard.yml)")
    p.add_argument("--candidates", type=int, help="candidate pool size (default: what the rounds consume)")
    p.add_argument("--rounds", type=int, help="FUSE rounds (default 3)")
    p.add_argument("--candidates-per-round", type=int, help="candidates per round, incumbent included (default 4)")
    p.add_argument("--cycles", type=int, help="weight/α alternations per round (default 2)")
    p.add_argument("--weight-epochs", type=int, help="epochs per weight phase (default 1)")
    p.add_argument("--alpha-epochs", type=int, help="epochs per α phase (default 5; only the first runs the candidates)")
    p.add_argument("--retrain-epochs", type=int, help="epochs of the from-scratch retraining (default 20)")
    p.add_argument("--train-samples", type=int, help="target train examples (default: all, balanced)")
    p.add_argument("--val-samples", type=int, help="target validation examples")
    p.add_argument("--test-samples", type=int, help="target test examples")
    p.add_argument("--seed", type=int, help="seed of data, candidates, search and retraining (default 0)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--max-params", type=int, metavar="N",
                   help="parameter budget: every candidate is scaled down (depth and width together) to at most N "
                        "parameters")
    p.add_argument("--fill-budget", action="store_true", default=None,
                   help="scale FUSE's finalists up to spend --max-params before retraining them (the search picks the "
                        "design, the budget its size)")
    p.add_argument("--retrain-top", type=int, metavar="K",
                   help="retrain FUSE's best K candidates from scratch and keep the best on validation "
                        "(default: the config's, else 1)")
    p.add_argument("--out", metavar="DIR", help="export folder (default runs/search/<target>-<space>-<strategy>-s<seed>)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(handler=_search)


def _search(args) -> int:
    from ..pipeline import load_search_config, run_pipeline

    overrides = {
        "target": args.target, "space": args.space, "strategy": args.strategy, "dictionary": args.dictionary,
        "data_dir": args.data_dir, "k": args.k, "method": args.method, "tau": args.tau,
        "space_file": args.space_file, "candidates": args.candidates, "seed": args.seed, "threads": args.threads,
        "max_params": args.max_params, "retrain_top": args.retrain_top,
        "fill_budget": args.fill_budget,
        "out": args.out,
        "fuse.rounds": args.rounds, "fuse.candidates_per_round": args.candidates_per_round,
        "fuse.cycles": args.cycles, "fuse.weight_epochs": args.weight_epochs, "fuse.alpha_epochs": args.alpha_epochs,
        "retrain.epochs": args.retrain_epochs,
        "samples.train": args.train_samples, "samples.val": args.val_samples, "samples.test": args.test_samples,
    }
    cfg = load_search_config(args.config, overrides)
    quiet_libraries()
    result = run_pipeline(cfg, progress=None if args.quiet else print_event)
    print(result.out if args.quiet else summary(result.metrics, result.out))
    return 0


def summary(m: dict, out) -> str:
    """What a person wants to read at the end of a search (metrics.json has everything)."""
    near = ", ".join(f"{n['task']} ({n['distance']:.3g})" for n in m.get("neighbours", [])) or "none (standard space)"
    return "\n".join([
        f"target       {m['target']}  ({m['space']} space, {m['strategy']}, seed {m['seed']})",
        f"nearest      {near}",
        f"winner       {m['architecture']}",
        *_grown_line(m),
        *_finalists_line(m),
        f"test error   {100 * m['test_error']:.2f} %   ({m['parameters_m']:.3f} M parameters)",
        f"search time  {m['search_seconds']:.1f} s (space {m['space_seconds']:.1f} s, FUSE {m['fuse_seconds']:.1f} s"
        + (f", finalists {m['finalist_seconds']:.1f} s" if m.get("finalist_seconds") else "")
        + f"); retraining {m['retrain_seconds']:.1f} s",
        f"export       {out}  (metrics.json, architecture.json, weights.pt: tanas_nni.pipeline.load_exported)",
    ])


def _grown_line(m: dict) -> list[str]:
    """With ``fill_budget``: the network as the search compared it, when it was grown to the budget."""
    kept = next((r for r in m.get("finalists") or [] if r["kept"]), None)
    if not m.get("fill_budget") or kept is None or kept.get("searched") in (None, kept["architecture"]):
        return []
    return [f"searched as  {kept['searched']}  (grown to spend --max-params {m['max_params']})"]


def _finalists_line(m: dict) -> list[str]:
    rows = m.get("finalists") or []
    if len(rows) < 2:
        return []
    kept = next(r for r in rows if r["kept"])
    vals = ", ".join(f"{r['val_acc']:.2%}" for r in rows)
    return [f"finalists    FUSE's best {len(rows)} retrained, #{kept['rank']} kept (val acc {vals})"]
