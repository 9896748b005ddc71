"""Command line: ``skfisher run`` and ``skfisher compare`` (also ``python -m skfisher``)."""

import sys
import time
from pathlib import Path

from ..active._loop import run_active_learning
from ..datasets._base import load_own_split, load_split
from ..experiments._compare import SETTINGS, load_rounds, own_setting, run_comparison, summarize
from ..experiments._output import format_table, save_results, saving_sentence
from ..nets._classifier import ResNet18Classifier
from ..strategies import STRATEGIES, get_strategy
from ..utils._device import auto_device
from ..utils._files import check_output_file, results_folder, write_atomic
from ._label import label_command
from ._parser import build_parser

#: Python terms in library messages, and how the command line spells them.
_CLI_TERMS = {
    "image_size=(height, width)": "--image-size HEIGHT WIDTH",
    "relabel=True": "--relabel",
    "LabelingProject.create (an interrupted create": "`skfisher label init` (an interrupted init",
}

#: The files ``skfisher run`` writes into its output folder.
RUN_FILES = ("results.json", "results.csv", "learning_curve.png")


def _image_size(args):
    size = args.image_size
    if size is not None and len(size) > 2:
        raise ValueError(f"--image-size takes HEIGHT [WIDTH]; got {size}.")
    return None if size is None else tuple(size * 2 if len(size) == 1 else size)


def run_command(args):
    out = Path(args.output_dir)
    with results_folder(out):  # checked before any data are loaded or nets fitted
        existing = [name for name in RUN_FILES if (out / name).exists()]
        if existing and not args.overwrite:
            raise FileExistsError(
                f"{out} already holds results ({', '.join(existing)}); pass --overwrite "
                "to replace them, or choose another --output-dir."
            )
        # --overwrite: the old files stay until the first new round replaces them all
        return _run_experiment(args, out)


def _load_data(args):
    """``X_pool, y_pool, X_test, y_test`` of ``--data`` or ``--dataset``."""
    split = dict(pool_size=args.pool_size, test_size=args.test_size, random_state=args.random_state)
    if args.data is not None:
        args.dataset = Path(args.data).name
        return load_own_split(args.data, image_size=_image_size(args), **split)
    if args.dataset == "cifar10" and args.data_dir is None:
        raise ValueError("--dataset cifar10 needs --data-dir, the cifar-10-batches-py folder.")
    return load_split(args.dataset, data_dir=args.data_dir, **split)


#: How the saving sentence names a strategy.
_NAMES = {"fisher_mask": "FisherMask", "bait": "BAIT", "badge": "BADGE"}


def _run_experiment(args, out):
    X_pool, y_pool, X_test, y_test = _load_data(args)
    data = (X_pool, y_pool, X_test, y_test)
    baseline = None if args.baseline == "none" or args.strategy == args.baseline else args.baseline
    device = auto_device(args.device)
    print(
        f"skfisher run: {args.dataset} (pool {len(y_pool)}, test {len(y_test)}), "
        f"strategy {args.strategy}"
        + (f" and the {baseline} baseline" if baseline else "")
        + f", {args.n_initial} + {args.n_rounds} x {args.n_instances} "
        f"labels, device {device}, seed {args.random_state}",
        flush=True,
    )
    meta = {k: v for k, v in vars(args).items() if k not in ("command", "overwrite")}
    meta.update(device=str(device), accuracy_on=f"test set ({len(y_test)} rows)")
    meta["baseline"] = baseline
    curves = {"strategy": [], "baseline": [] if baseline else None}
    paths = {}
    title = f"{args.dataset}: {args.strategy}" + (f" vs {baseline}" if baseline else "")

    def saver(key):
        def save(row, new_rows):
            curves[key].append(row)
            args.saved_rounds = sum(len(c) for c in curves.values() if c is not None)
            done = [len(c) == args.n_rounds + 1 for c in curves.values() if c is not None]
            meta["complete"] = all(done)
            paths.update(
                save_results(
                    curves["strategy"],
                    out,
                    meta=meta,
                    ylabel="test accuracy",
                    title=f"{title} (seed {args.random_state})",
                    baseline=curves["baseline"],
                    labels=(args.strategy, baseline),
                )
            )

        return save

    params = {"sparsity": args.sparsity} if args.strategy == "fisher_mask" else {}
    _simulate(
        args,
        get_strategy(args.strategy, random_state=args.random_state, **params),
        data,
        saver("strategy"),
    )
    if baseline:
        if not args.quiet:
            print(f"the {baseline} baseline: same initial labels, seed and training", flush=True)
        _simulate(
            args, get_strategy(baseline, random_state=args.random_state), data, saver("baseline")
        )
    print(format_table(curves["strategy"], baseline=curves["baseline"], baseline_label=baseline))
    if baseline:
        print(_saving(curves, args.strategy, baseline))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _simulate(args, strategy, data, on_round):
    """One simulated run of ``strategy`` with ``args``' network, schedule and seed."""
    estimator = ResNet18Classifier(
        width=args.width,
        max_epochs=args.max_epochs,
        device=args.device,
        random_state=args.random_state,
    )
    run_active_learning(
        estimator,
        strategy,
        *data,
        n_initial=args.n_initial,
        n_instances=args.n_instances,
        n_rounds=args.n_rounds,
        random_state=args.random_state,
        progress=not args.quiet,
        on_round=on_round,
    )


def _saving(curves, strategy, baseline):
    """The run's last line: the labels ``strategy`` saved against ``baseline``."""
    rounds, other = curves["strategy"], curves["baseline"]
    return saving_sentence(
        [r["n_labels"] for r in rounds],
        [r["accuracy"] for r in rounds],
        [r["accuracy"] for r in other],
        name=_NAMES.get(strategy, strategy),
        baseline=baseline,
    )


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
        check_output_file(args.markdown)
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
    write_atomic(
        markdown,
        "# Labeling efficiency\n\nGenerated by `skfisher compare`; do not edit by "
        "hand. Rerun the command in each section to regenerate it.\n\n"
        + "\n\n".join(sections)
        + "\n",
    )
    print(f"wrote {markdown}")


def _device_description(device):
    import platform

    import torch

    resolved = torch.device(auto_device(device))
    if resolved.type == "cuda":
        return torch.cuda.get_device_name(resolved)
    n = torch.get_num_threads()
    return f"CPU ({platform.machine()}, {n} thread{'' if n == 1 else 's'})"


def _interrupted(args):
    """What an interrupted ``run`` or ``compare`` left in its output folder."""
    if args.command == "run" and not getattr(args, "saved_rounds", 0):
        return (
            f"no round had finished, so nothing was written: {args.output_dir} is as it was "
            "(earlier results included)."
        )
    return (
        f"every finished round is saved in {args.output_dir} and no unfinished round was recorded."
    )


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
        print(f"skfisher: interrupted; {_interrupted(args)}", file=sys.stderr)
        return 130  # 128 + SIGINT, the shell's convention
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
