"""``tanas data list|check|download``: the built-in datasets' files under the data root."""
from __future__ import annotations

import sys

from . import add_common


def register(sub) -> None:
    p = sub.add_parser("data", help="list, check and download the built-in datasets",
                       description="The files of MNIST, Fashion-MNIST and Quick, Draw! under the data root "
                                   "(--data-dir, else $TANAS_DATA_DIR, else ~/.cache/tanas-nni/datasets).")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    for action, text in (("list", "each file and whether it is there"),
                         ("check", "verify every file (MD5 where published, else readable); exit 1 on a problem")):
        a = dsub.add_parser(action, help=text, description=text)
        add_common(a, dictionary=False)
        a.add_argument("--quickdraw", metavar="CAT", nargs="*", help="Quick, Draw! categories (default: those present)")
        a.set_defaults(handler=_check if action == "check" else _list)
    d = dsub.add_parser("download", help="fetch what is missing (mnist, fashion-mnist, quickdraw:<category>)")
    add_common(d, dictionary=False)
    d.add_argument("datasets", nargs="+", metavar="DATASET", help="mnist, fashion-mnist or quickdraw:<category>")
    d.set_defaults(handler=_download)


def _root(args):
    from ..data import resolve_data_dir

    return resolve_data_dir(args.data_dir)


def _list(args) -> int:
    from ..data.catalog import catalog

    root = _root(args)
    print(f"data root: {root}")
    for f in catalog(root, args.quickdraw):
        print(f"{f.dataset:13s} {'present' if f.path.is_file() else 'missing':8s} {f.path}")
    return 0


def _check(args) -> int:
    from ..data.catalog import check

    rows = check(_root(args), args.quickdraw)
    bad = [(f, s) for f, s in rows if s != "ok"]
    for f, s in bad:
        print(f"tanas: {f.path}: {s}", file=sys.stderr)
    print(f"{len(rows) - len(bad)} of {len(rows)} files ok" + ("; delete the bad files and run `tanas data download <dataset>`" if bad else ""))
    return 1 if bad else 0


def _download(args) -> int:
    from ..data.catalog import download

    done = download(_root(args), args.datasets)
    print(f"downloaded {len(done)} file(s) into {_root(args)}" if done else "everything asked for is there already")
    return 0
