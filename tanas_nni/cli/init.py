"""``tanas init DIR``: a ready-to-run folder with the stage configs and the NNI experiments (copied from the package)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "init", help="write the stage configs and NNI experiment YAMLs into a folder",
        description="Write configs/ (dictionary, distance, search, comparison stages), experiments/ (NNI experiments "
                    "that run them: `nnictl create --config DIR/experiments/<x>.yml`) and search_spaces/standard.yml "
                    "into DIR. Relative paths in them point into DIR (the dictionary goes to DIR/runs/dictionary); run the commands from DIR.")
    p.add_argument("dir", nargs="?", default=".", help="folder to write into (created if missing; default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist already")
    p.add_argument("--keep", action="store_true", help="write only the missing files; keep those that exist")
    p.set_defaults(handler=_init)


def _init(args) -> int:
    from pathlib import Path

    from ..core.resources import copy_templates

    written = copy_templates(args.dir, force=args.force, keep=args.keep)
    root = Path(args.dir)
    if not written:
        print(f"{root}/: every template is there already (kept)")
        return 0
    print(f"wrote {len(written)} files into {root}/: " + ", ".join(str(p.relative_to(root)) for p in written))
    print(f"next:  cd {root} && tanas dictionary build configs/dictionary.yml"
          f"   (or: nnictl create --config {root}/experiments/dictionary.yml --port 8080)")
    return 0
