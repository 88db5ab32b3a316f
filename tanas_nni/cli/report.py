"""``tanas report``: the comparison's table (Markdown, CSV) and plot (PNG) from a results directory or an NNI
experiment id (see :mod:`tanas_nni.experiment.report`)."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="table and plot of a comparison (results directory or NNI experiment id)",
        description="Read the comparison's records from a results directory (written by `tanas compare` or the "
                    "nnictl compare experiment) or from an NNI experiment's own database (running or stopped), and "
                    "write report.md, report.csv and report.png. The Markdown table is also printed.")
    p.add_argument("source", help="results directory (e.g. runs/compare) or NNI experiment id")
    p.add_argument("--out", metavar="DIR",
                   help="where to write the report (default: the results directory, or runs/report/<experiment id>)")
    p.add_argument("--nni-dir", metavar="DIR",
                   help="the experiment's experimentWorkingDirectory if NNI's registry does not know it")
    p.set_defaults(handler=_report)


def _report(args) -> int:
    from ..experiment.report import load_any, markdown_table, write_report

    records, title = load_any(args.source, args.nni_dir)
    out = Path(args.out) if args.out else (Path(args.source) if Path(args.source).is_dir()
                                            else Path("runs") / "report" / args.source)
    paths = write_report(records, out, title)
    print(markdown_table(records))
    print(f"\nwritten: {paths['md']}, {paths['csv']}, {paths['png']}")
    return 0
