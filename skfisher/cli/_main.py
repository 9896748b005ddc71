"""Command line: ``skfisher run`` and ``skfisher compare`` (also ``python -m skfisher``)."""

import argparse
import sys
import time
from pathlib import Path

from ..active._loop import run_active_learning
from ..datasets._base import DATASETS, load_own_split, load_split
from ..experiments._compare import SETTINGS, load_rounds, own_setting, run_comparison, summarize
from ..experiments._output import format_table, save_results
from ..nets._classifier import ResNet18Classifier
from ..strategies import STRATEGIES, get_strategy
from ..utils._files import check_writable, results_folder
from ._label import add_label_parser, label_command

#: Python terms in library messages, and how the command line spells them.
_CLI_TERMS = {
    "image_size=(height, width)": "--image-size HEIGHT WIDTH",
    "relabel=True": "--relabel",
    "LabelingProject.create (an interrupted create": "`skfisher label init` (an interrupted init",
}

#: The files ``skfisher run`` writes into its output folder.
RUN_FILES = ("results.json", "results.csv", "learning_curve.png")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text}")
    return value


def _own_data_arguments(parser, prefix, nargs=None):
    """``--data`` (an image folder or an .npz) and ``--image-size``."""
    parser.add_argument(
        "--data",
        nargs=nargs,
        default=None,
        metavar="PATH",
        help=prefix + "your data: a folder with one sub-folder of images per class "
        "(ImageFolder layout), or an .npz with X (n, [c,] h, w) and y; 30%% is held out",
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        nargs="+",
        default=None,
        metavar=("HEIGHT", "WIDTH"),
        help="resize --data images (needed when their sizes differ)",
    )


def _image_size(args):
    size = args.image_size
    if size is not None and len(size) > 2:
        raise ValueError(f"--image-size takes HEIGHT [WIDTH]; got {size}.")
    return None if size is None else tuple(size * 2 if len(size) == 1 else size)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skfisher", description="FisherMask active learning for scikit-learn."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    _add_compare_parser(sub)
    add_label_parser(sub, _positive_int)
    return parser


def _add_run_parser(sub):
    run = sub.add_parser(
        "run",
        help="simulate pool-based active learning on a data set",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--dataset", choices=DATASETS, default="digits")
    run.add_argument("--data-dir", default=None, help="folder of the data set's files")
    _own_data_arguments(run, "instead of --dataset: ")
    run.add_argument("--strategy", choices=sorted(STRATEGIES), default="fisher_mask")
    run.add_argument("--n-initial", type=_positive_int, default=50, help="initial labeled rows")
    run.add_argument(
        "--n-instances",
        "--batch-size",
        dest="n_instances",
        type=_positive_int,
        default=50,
        help="labels per query (--batch-size: old spelling)",
    )
    run.add_argument(
        "--n-rounds",
        "--rounds",
        dest="n_rounds",
        type=int,
        default=6,
        help="queries after the initial fit (--rounds: old spelling)",
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    run.add_argument(
        "--output-dir",
        default="skfisher-results",
        help="results.json, results.csv and learning_curve.png, saved after every round",
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace results already in --output-dir"
    )
    run.add_argument("--pool-size", type=_positive_int, default=None, help="subsample the pool")
    run.add_argument("--test-size", type=_positive_int, default=None, help="subsample the test set")
    run.add_argument("--max-epochs", type=_positive_int, default=30)
    run.add_argument("--width", type=int, choices=(16, 64), default=16)
    run.add_argument("--sparsity", type=float, default=0.002, help="fisher_mask only")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_compare_parser(sub):
    cmp_ = sub.add_parser(
        "compare",
        help="compare strategies over seeds; resumable; Markdown table and plot",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    cmp_.add_argument(
        "--settings",
        nargs="+",
        choices=sorted(SETTINGS),
        default=None,
        help="default: digits, unless --data is given",
    )
    _own_data_arguments(cmp_, "settings on ", nargs="+")
    cmp_.add_argument(
        "--strategies", nargs="+", choices=["all", *sorted(STRATEGIES)], default=["all"]
    )
    cmp_.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    cmp_.add_argument(
        "--output-dir",
        default="skfisher-compare",
        help="rounds.jsonl, per-setting tables and plots",
    )
    cmp_.add_argument("--markdown", default=None, help="also write all tables to this file")
    cmp_.add_argument("--data-dir", default=None)
    cmp_.add_argument("--n-initial", type=_positive_int, default=None, help="setting's default")
    cmp_.add_argument(
        "--n-instances",
        "--batch-size",
        dest="n_instances",
        type=_positive_int,
        default=None,
        help="labels per query; setting's default",
    )
    cmp_.add_argument(
        "--n-rounds",
        "--rounds",
        dest="n_rounds",
        type=int,
        default=None,
        help="queries after the initial fit; setting's default",
    )
    cmp_.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="sgd: momentum 0.9, cosine decay; adam: as the reference",
    )
    cmp_.add_argument("--lr", type=float, default=None, help="0.05 for sgd, 1e-3 for adam")
    cmp_.add_argument("--max-epochs", type=_positive_int, default=30)
    cmp_.add_argument(
        "--train-until",
        type=float,
        default=None,
        help="stop at this training accuracy (max-epochs caps it)",
    )
    cmp_.add_argument("--width", type=int, choices=(16, 64), default=16)
    cmp_.add_argument("--device", default="auto")
    cmp_.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="(strategy, seed) runs at once, each in its own process; same results as --jobs 1",
    )
    cmp_.add_argument("--quiet", action="store_true")


def run_command(args):
    out = Path(args.output_dir)
    with results_folder(out):  # checked before any data are loaded or nets fitted
        existing = [name for name in RUN_FILES if (out / name).exists()]
        if existing and not args.overwrite:
            raise FileExistsError(
                f"{out} already holds results ({', '.join(existing)}); pass --overwrite "
                "to replace them, or choose another --output-dir."
            )
        for name in existing:  # --overwrite: no stale file outlives the new run's start
            (out / name).unlink()
        return _run_experiment(args, out)


def _run_experiment(args, out):
    split = dict(pool_size=args.pool_size, test_size=args.test_size, seed=args.seed)
    if args.data is not None:
        args.dataset = Path(args.data).name
        X_pool, y_pool, X_test, y_test = load_own_split(
            args.data, image_size=_image_size(args), **split
        )
    else:
        if args.dataset == "cifar10" and args.data_dir is None:
            raise ValueError("--dataset cifar10 needs --data-dir, the cifar-10-batches-py folder.")
        X_pool, y_pool, X_test, y_test = load_split(args.dataset, data_dir=args.data_dir, **split)
    estimator = ResNet18Classifier(
        width=args.width,
        max_epochs=args.max_epochs,
        device=args.device,
        random_state=args.seed,
    )
    params = {"sparsity": args.sparsity} if args.strategy == "fisher_mask" else {}
    strategy = get_strategy(args.strategy, random_state=args.seed, **params)
    print(
        f"skfisher run: {args.dataset} (pool {len(y_pool)}, test {len(y_test)}), "
        f"strategy {args.strategy}, {args.n_initial} + {args.n_rounds} x {args.n_instances} "
        f"labels, device {estimator.device}, seed {args.seed}",
        flush=True,
    )
    meta = {k: v for k, v in vars(args).items() if k not in ("command", "overwrite")}
    meta["device"] = str(estimator.device)
    meta["accuracy_on"] = f"test set ({len(y_test)} rows)"
    rounds, paths = [], {}

    def save(row, new_rows):
        rounds.append(row)
        meta["complete"] = len(rounds) == args.n_rounds + 1
        paths.update(
            save_results(
                rounds,
                out,
                meta=meta,
                ylabel="test accuracy",
                title=f"{args.dataset}: {args.strategy} (seed {args.seed})",
            )
        )

    run_active_learning(
        estimator,
        strategy,
        X_pool,
        y_pool,
        X_test,
        y_test,
        n_initial=args.n_initial,
        n_instances=args.n_instances,
        n_rounds=args.n_rounds,
        random_state=args.seed,
        progress=not args.quiet,
        on_round=save,
    )
    print(format_table(rounds))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def compare_command(args, argv):
    import torch

    strategies = list(STRATEGIES) if "all" in args.strategies else args.strategies
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[args.optimizer]
    estimator_params = {
        "optimizer": optimizer,
        "lr": args.lr or (0.05 if args.optimizer == "sgd" else 1e-3),
        "max_epochs": args.max_epochs,
        "train_until": args.train_until,
        "width": args.width,
        "device": args.device,
    }
    if args.optimizer == "adam":
        estimator_params["callbacks__cosine_lr"] = None
    out = Path(args.output_dir)
    if args.markdown:
        check_writable(Path(args.markdown).parent)
    settings = list(args.settings or ([] if args.data else ["digits"]))
    settings += [own_setting(p, image_size=_image_size(args)) for p in args.data or []]
    for setting in settings:
        tic = time.perf_counter()
        spec = setting if isinstance(setting, dict) else SETTINGS[setting]
        name = spec.get("name", setting)
        path = run_comparison(
            setting,
            strategies,
            args.seeds,
            out / name,
            n_initial=args.n_initial,
            n_instances=args.n_instances,
            n_rounds=args.n_rounds,
            estimator_params=estimator_params,
            data_dir=args.data_dir,
            progress=not args.quiet,
            n_jobs=args.jobs,
        )
        n_rounds = spec["n_rounds"] if args.n_rounds is None else args.n_rounds
        records = [
            r
            for r in load_rounds(path)
            if r["setting"] == name
            and r["strategy"] in strategies
            and r["seed"] in args.seeds
            and r["round"] <= n_rounds
        ]
        header = _setting_header(name, spec, args, argv, out / name, records, tic)
        table = summarize(
            records,
            strategies=strategies,
            markdown_path=out / name / "summary.md",
            plot_path=out / name / "learning_curves.png",
            header=header,
        )
        print(header + "\n\n" + table)
    if args.markdown:
        _write_markdown(args.markdown, out, settings)
    return 0


def _setting_header(name, spec, args, argv, folder, records, tic):
    """A setting's Markdown header: device, seeds, compute time, command, plot."""
    compute = sum(r["query_seconds"] + r["fit_seconds"] for r in records)
    strategies = list(STRATEGIES) if "all" in args.strategies else args.strategies
    return "\n".join(
        [
            f"## {name}: {spec['description']}",
            "",
            f"- device: {_device_description(args.device)}",
            f"- seeds: {', '.join(map(str, args.seeds))}; strategies: {', '.join(strategies)}",
            f"- compute: {compute / 60:.1f} min of query + fit time "
            f"(this invocation: {(time.perf_counter() - tic) / 60:.1f} min wall)",
            f"- command: `skfisher {' '.join(argv)}`",
            f"- curves: `{(folder / 'learning_curves.png').as_posix()}`",
            "",
            "Test accuracy (mean ± std over seeds) at each number of labels, and the "
            "area under the learning curve (AULC, normalised to [0, 1]).",
        ]
    )


def _write_markdown(markdown, out, settings):
    """Every setting summarised under ``out`` so far, not only this run's, in one file."""
    names = dict.fromkeys([*SETTINGS, *(s["name"] for s in settings if isinstance(s, dict))])
    sections = [
        (out / name / "summary.md").read_text().strip()
        for name in names
        if (out / name / "summary.md").exists()
    ]
    Path(markdown).write_text(
        "# Labeling efficiency\n\nGenerated by `skfisher compare`; do not edit by "
        "hand. Rerun the command in each section to regenerate it.\n\n"
        + "\n\n".join(sections)
        + "\n"
    )
    print(f"wrote {markdown}")


def _device_description(device):
    import platform

    import torch

    from ..nets._classifier import resolve_device

    resolved = torch.device(resolve_device(device))
    if resolved.type == "cuda":
        return torch.cuda.get_device_name(resolved)
    n = torch.get_num_threads()
    return f"CPU ({platform.machine()}, {n} thread{'' if n == 1 else 's'})"


def _in_cli_terms(message):
    """A library message with its Python argument names spelled as CLI flags."""
    for python, flag in _CLI_TERMS.items():
        message = message.replace(python, flag)
    return message


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            if args.n_rounds < 0:
                parser.error("--n-rounds must be >= 0")
            return run_command(args)
        if args.command == "compare":
            return compare_command(args, argv)
        if args.command == "label":
            return label_command(args)
    except (ValueError, OSError) as exc:  # bad input, files, a busy or read-only folder
        print(f"skfisher: error: {_in_cli_terms(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"skfisher: interrupted; every finished round is saved in {args.output_dir} "
            "and no unfinished round was recorded.",
            file=sys.stderr,
        )
        return 130  # 128 + SIGINT, the shell's convention
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
