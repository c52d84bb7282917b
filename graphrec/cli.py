"""The ``graphrec`` command line.

One argparse subparser per subcommand; each subcommand is a function
``(args) -> exit code`` registered in :func:`build_parser`. Configuration stays
here, at the edge: library functions receive plain arguments.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence, TextIO

Command = Callable[[argparse.Namespace], int]


def _human_size(size: int) -> str:
    """Bytes in binary units: ``512 B``, ``2.4 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _count(value: Optional[int]) -> str:
    return "-" if value is None else f"{value:,}"


def _format_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> List[str]:
    """Columns padded to their widest cell; numbers right-aligned."""
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, right)]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def datasets_command(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Print every registered dataset: where it is (or that it is missing) and its expected size."""
    out = sys.stdout if out is None else out  # looked up per call so redirection works
    from .data.registry import missing_files, registered_datasets, search_bases

    bases = search_bases(args.root)
    header = ("name", "status", "on disk", "users", "items", "interactions", "triples", "location")
    right = (False, False, True, True, True, True, True, False)
    rows = []
    for spec in registered_datasets():
        found = next(
            ((label, base / spec.folder) for label, base in bases if not missing_files(spec, base / spec.folder)),
            None,
        )
        expected = spec.expected
        interactions = expected.get("interactions")
        if interactions is None and "train" in expected and "test" in expected:
            interactions = expected["train"] + expected.get("valid", 0) + expected["test"]
        if found is None:
            status, size, location = "missing", "-", "-"
        else:
            label, folder = found
            status = "present"
            size = _human_size(sum((folder / f.name).stat().st_size for f in spec.files))
            location = f"{folder} ({label})"
        rows.append((
            spec.name, status, size, _count(expected.get("users")), _count(expected.get("items")),
            _count(interactions), _count(expected.get("triples")), location,
        ))
    for line in _format_table(header, rows, right):
        print(line, file=out)
    print("\nsearched, in order: " + "; ".join(f"{label} {base}" for label, base in bases), file=out)
    print("statistics are the published ones that `graphrec.data.load(name)` checks", file=out)
    return 0


def demo_command(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Build the synthetic world and its heterogeneous graph; print (and optionally save) their summary."""
    out = sys.stdout if out is None else out
    import json

    from .atomic import write_text_atomic
    from .demo import format_summary, run_demo

    result = run_demo(
        seed=args.seed, num_users=args.users, num_items=args.items, epochs=args.epochs, device=args.device,
        **({} if args.models is None else {"models": args.models}),
    )
    print(format_summary(result), file=out)
    if args.json is not None:
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
        print(f"\nsummary written to {args.json}", file=out)
    return 0


def train_command(args: argparse.Namespace) -> int:
    """Train the config in a run folder (resuming it when a matching checkpoint is there)."""
    import json

    from .config import config_from_file
    from .experiment import train_run
    from .train import TimeLimitReached

    config = config_from_file(args.config, args.set or ())
    out = args.out if args.out is not None else Path("runs") / Path(args.config).stem
    _set_threads(args.threads)
    try:
        metrics = train_run(config, out, progress=not args.quiet, time_limit=args.time_limit)
    except TimeLimitReached as paused:
        print(f"graphrec train: {paused}", file=sys.stderr)
        return EXIT_RESUMABLE
    keys = ("test", "epochs", "best_epoch", "stopped_early", "train_seconds")
    print(json.dumps({"run": str(out), **{k: metrics[k] for k in keys}}, indent=2))
    return 0


#: exit code of a run stopped by --time-limit (sysexits' EX_TEMPFAIL: "try again"): the same command resumes it
EXIT_RESUMABLE = 75

_THREADS_HELP = ("CPU threads (torch.set_num_threads; 1 when other processes share the cores, "
                 "where PyTorch's spinning OpenMP threads slow a run down)")


def _set_threads(threads: Optional[int]) -> None:
    """``torch.set_num_threads`` when given: a run-time setting, not part of the run's config."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type`` for a positive number (also the experiment runner's ``--time-limit``)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def evaluate_command(args: argparse.Namespace) -> int:
    """Evaluate a run folder's best parameters on its validation and test splits."""
    import json

    from .experiment import evaluate_run

    _set_threads(args.threads)
    print(json.dumps(evaluate_run(args.run, device=args.device), indent=2))
    return 0


def recommend_command(args: argparse.Namespace) -> int:
    """Top-k items (the dataset's raw ids) for a user given by raw id."""
    from .experiment import open_run, recommend

    run = open_run(args.run, device=args.device)
    try:
        items = recommend(run, args.user, args.k)
    except KeyError as error:
        print(f"graphrec recommend: {error.args[0]}", file=sys.stderr)
        return 1
    print(f"top {len(items)} items for user {args.user} ({run.config['model']} on {run.config['dataset']}):")
    for rank, (item, score) in enumerate(items, start=1):
        print(f"{rank:>3}  {item}  {score:.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; add a subcommand with ``subparsers.add_parser`` + ``set_defaults(command=...)``."""
    parser = argparse.ArgumentParser(prog="graphrec", description="Graph-based recommendation toolkit.")
    subparsers = parser.add_subparsers(title="commands", dest="command_name", metavar="COMMAND")

    datasets = subparsers.add_parser(
        "datasets",
        help="list the registered datasets, where they are on disk, and their expected statistics",
        description="List every registered dataset: present locally (and where) or missing, its size on "
        "disk, and the statistics the registry expects. Searches --root, then $GRAPHREC_DATA, then the "
        "cache ($GRAPHREC_CACHE, $XDG_CACHE_HOME/graphrec or ~/.cache/graphrec).",
    )
    datasets.add_argument("--root", type=Path, default=None, help="a folder searched before $GRAPHREC_DATA")
    datasets.set_defaults(command=datasets_command)

    demo = subparsers.add_parser(
        "demo",
        help="the main job on the embedded default: the synthetic world, its graph, LightGCN vs a KG encoder",
        description="Build the synthetic world (users, items, a KG that carries part of the preference, "
        "popularity-biased exposure) and its heterogeneous graph, print their summary, then train MF, "
        "LightGCN and the KG encoder KGIN on it and print their test metrics side by side. No download.",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed of the world (default 0)")
    demo.add_argument("--users", type=int, default=3000, help="number of users (default 3000)")
    demo.add_argument("--items", type=int, default=2000, help="number of items (default 2000)")
    demo.add_argument("--models", nargs="*", default=None, metavar="MODEL",
                      help="models to train (default: mf lightgcn kgin; `--models` alone: only build and summarise)")
    demo.add_argument("--epochs", type=int, default=30, help="most epochs per model (default 30)")
    demo.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    demo.add_argument("--json", type=Path, default=None, help="also write the summary as JSON to this file")
    demo.set_defaults(command=demo_command)

    train = subparsers.add_parser(
        "train",
        help="train a model from a YAML config into a run folder",
        description="Train CONFIG.yaml (keys: dataset, model, model_args, loss, epochs, batch_size, lr, "
        "weight_decay, seed, device, split, eval, ...). The run folder gets config.yaml, log.jsonl, "
        "checkpoint.pt and metrics.json; running the same command again resumes from the checkpoint.",
    )
    train.add_argument("config", type=Path, help="experiment YAML file")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config key (YAML value; nested keys with dots, e.g. eval.patience=10)")
    train.add_argument("--out", type=Path, default=None, help="run folder (default runs/<config name>)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--threads", type=_positive_int, default=None,
                       help=_THREADS_HELP)
    train.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                       help="stop at the first epoch boundary after SECONDS of wall time, checkpointed, with exit "
                            f"code {EXIT_RESUMABLE}; the same command resumes the run (for machines granted in slices)")
    train.set_defaults(command=train_command)

    evaluate = subparsers.add_parser("evaluate", help="evaluate a run folder's best parameters",
                                     description="Rebuild a run from its config.yaml, load its best "
                                     "checkpointed parameters and print validation and test metrics.")
    evaluate.add_argument("run", type=Path, help="run folder")
    evaluate.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    evaluate.add_argument("--threads", type=_positive_int, default=None,
                          help=_THREADS_HELP)
    evaluate.set_defaults(command=evaluate_command)

    recommend = subparsers.add_parser("recommend", help="top-k items for a user (raw ids in and out)",
                                      description="Recommend the top K items for a user of the run's "
                                      "dataset; ids are the dataset's own (raw) ids; items the user "
                                      "already has in train or valid are left out.")
    recommend.add_argument("run", type=Path, help="run folder")
    recommend.add_argument("--user", required=True, help="the user's raw id")
    recommend.add_argument("-k", type=int, default=10, help="number of items (default 10)")
    recommend.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    recommend.set_defaults(command=recommend_command)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``graphrec`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Optional[Command] = getattr(args, "command", None)
    if command is None:
        parser.print_help()
        return 2
    return command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
