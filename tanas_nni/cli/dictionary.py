"""``tanas dictionary build|architectures|add|list|show``."""
from __future__ import annotations

import argparse
import json

from . import add_common, print_message


def register(sub) -> None:
    p = sub.add_parser("dictionary", help="build and inspect the dictionary of base tasks",
                       description="Build and inspect the dictionary of base tasks.")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True

    # The options of the two commands that read a dictionary config.
    from_config = argparse.ArgumentParser(add_help=False)
    from_config.add_argument("config", help="dictionary config YAML (see configs/dictionary.yml)")
    from_config.add_argument("--dictionary", "-d", metavar="DIR", default=None,
                             help="override the config's dictionary directory")
    from_config.add_argument("--data-dir", metavar="DIR", default=None, help="override the config's data root")

    b = dsub.add_parser("build", parents=[from_config],
                        help="train the representative network of every base task in a config",
                        description="Train the representative network of every base task listed in CONFIG and store "
                                    "it. Resumable: finished entries are skipped, corrupt ones rebuilt.")
    b.add_argument("--force", action="store_true", help="rebuild entries that exist already")
    b.set_defaults(handler=_build)

    a = dsub.add_parser("architectures", parents=[from_config],
                        help="find every base task's architecture (standard space, retrained with the dictionary's recipe)",
                        description="Give every base task in the dictionary an architecture from the standard space: "
                                    "candidates ranked cheaply, the best few retrained with the dictionary's samples "
                                    "and recipe, the best retrained one kept (validation only). Uses the shipped "
                                    "architectures when the config matches the one they were found for. Resumable: "
                                    "tasks that have an architecture are skipped.")
    a.add_argument("--force", action="store_true", help="search again (ignore shipped and stored architectures)")
    a.set_defaults(handler=_architectures)

    ad = dsub.add_parser("add", help="store a solved target (an export folder of `tanas search`) as a base task",
                         description="Store the target of EXPORT (the folder `tanas search` wrote) as a new base task: "
                                     "its representative network is trained with the recipe the dictionary's entries "
                                     "record, and the search's winner and its retrained score become its architecture. "
                                     "A later similar target can then draw its task-aware space from it.")
    ad.add_argument("export", help="export folder of `tanas search` (holds architecture.json, metrics.json, config.yml)")
    add_common(ad)
    ad.add_argument("--force", action="store_true", help="replace the target's entry if the dictionary has one")
    ad.set_defaults(handler=_add)

    ls = dsub.add_parser("list", help="one line per entry", description="List the dictionary's entries.")
    add_common(ls, data=False)
    ls.set_defaults(handler=_list)

    sh = dsub.add_parser("show", help="print one entry", description="Print one entry's metadata as JSON.")
    sh.add_argument("task", help="task id, e.g. mnist:3-vs-rest")
    add_common(sh, data=False)
    sh.set_defaults(handler=_show)


def _build(args) -> int:
    from ..dictionary import build_dictionary
    from ..pipeline import load_dictionary_config

    cfg = load_dictionary_config(args.config, {"dictionary": args.dictionary, "data_dir": args.data_dir})
    build_dictionary(cfg, force=args.force, log=print_message)
    return 0


def _architectures(args) -> int:
    from ..pipeline import dictionary_architectures, load_dictionary_config
    from ..core.logs import quiet_libraries

    cfg = load_dictionary_config(args.config, {"dictionary": args.dictionary, "data_dir": args.data_dir})
    quiet_libraries()
    dictionary_architectures(cfg, force=args.force, log=print_message)
    return 0


def _add(args) -> int:
    from ..dictionary.build import _log
    from ..pipeline import add_to_dictionary

    add_to_dictionary(args.export, args.dictionary, data_dir=args.data_dir, force=args.force, log=_log)
    return 0


def _list(args) -> int:
    from ..dictionary import CorruptEntryError, DictionaryStore

    store = DictionaryStore.open(args.dictionary)
    ids = store.task_ids()
    if not ids:
        print(f"dictionary {store.root} has no entries")
        return 0
    rows, bad = [], 0
    for t in ids:
        try:
            e = store.get(t)
        except CorruptEntryError as err:
            rows.append((t, "CORRUPT", "", "", "", str(err).split(": ", 1)[-1]))
            bad += 1
            continue
        arch = e.architecture
        rows.append((t, f"{e.metrics.get('test_acc', float('nan')):.2%}", f"{e.metrics.get('val_acc', float('nan')):.2%}",
                     str(e.meta.get("seed")), e.meta.get("data_fingerprint", ""),
                     _arch_cell(arch)))
    head = ("task", "test acc", "val acc", "seed", "data fingerprint", "architecture (retrained val acc)")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"{len(ids)} entries in {store.root}")
    if bad:
        import sys
        print(f"tanas: error: {bad} corrupt entr{'y' if bad == 1 else 'ies'} in {store.root}; rerun "
              f"`tanas dictionary build <config.yml>` to rebuild {'it' if bad == 1 else 'them'}", file=sys.stderr)
        from ..core.errors import EXIT_USAGE
        return EXIT_USAGE
    return 0


def _arch_cell(arch: dict | None) -> str:
    """The architecture's retrained validation accuracy beside the network's (same samples and recipe), if known."""
    if not arch:
        return "-"
    score = arch.get("score", {})
    if arch.get("source") and "test_error" in score:  # a solved target (`tanas dictionary add`): its search's winner
        return f"added (search winner, test error {score['test_error']:.2%})"
    if "retrained_val_acc" not in score:
        return f"yes ({arch.get('strategy', '?')}, not retrained)"
    mark = ">=" if score["retrained_val_acc"] >= score.get("network_val_acc", float("nan")) else "<"
    return f"{score['retrained_val_acc']:.2%} {mark} network {score.get('network_val_acc', float('nan')):.2%}"


def _show(args) -> int:
    from ..data import TaskSpec
    from ..dictionary import DictionaryStore

    store = DictionaryStore.open(args.dictionary)
    entry = store.get(str(TaskSpec.parse(args.task)))
    meta = {k: v for k, v in entry.meta.items() if k != "history"}
    print(json.dumps(meta, indent=2, sort_keys=True))
    return 0
