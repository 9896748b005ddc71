"""Command line: ``skfisher run`` (also ``python -m skfisher run``)."""

import argparse
import functools
import sys

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from . import datasets
from ._net import ResNet18Classifier
from .experiments import format_table, run_active_learning, save_results
from .strategies import STRATEGIES, get_strategy

DATASETS = ("digits", "fashion_mnist", "cifar10")


def load_split(name, *, data_dir=None, pool_size=None, test_size=None, seed=0):
    """Return ``X_pool, y_pool, X_test, y_test`` for a named data set.

    digits has no official test split: 30 % of it (stratified) is held out.
    ``pool_size``/``test_size`` subsample the pool and the test set at random.
    """
    if name == "digits":
        X, y = datasets.load_digits_images(return_X_y=True)
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
    elif name == "fashion_mnist":
        X_pool, y_pool, X_test, y_test = datasets.load_fashion_mnist(data_dir, return_X_y=True)
    elif name == "cifar10":
        if data_dir is None:
            raise ValueError("--dataset cifar10 needs --data-dir, the cifar-10-batches-py folder.")
        X_pool, y_pool, X_test, y_test = datasets.load_cifar10(data_dir, return_X_y=True)
    else:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {DATASETS}.")
    rng = check_random_state(seed)
    if pool_size is not None and pool_size < len(y_pool):
        keep = np.sort(rng.choice(len(y_pool), pool_size, replace=False))
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    if test_size is not None and test_size < len(y_test):
        keep = np.sort(rng.choice(len(y_test), test_size, replace=False))
        X_test, y_test = X_test[keep], y_test[keep]
    return X_pool, y_pool, X_test, y_test


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skfisher", description="FisherMask active learning for scikit-learn."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="simulate pool-based active learning on a data set",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--dataset", choices=DATASETS, default="digits")
    run.add_argument("--data-dir", default=None, help="folder of the data set's files")
    run.add_argument("--strategy", choices=sorted(STRATEGIES), default="fisher_mask")
    run.add_argument("--n-initial", type=_positive_int, default=50, help="initial labeled rows")
    run.add_argument("--batch-size", type=_positive_int, default=50, help="labels per query")
    run.add_argument("--rounds", type=int, default=6, help="queries after the initial fit")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    run.add_argument("--output-dir", default="skfisher-results")
    run.add_argument("--pool-size", type=_positive_int, default=None, help="subsample the pool")
    run.add_argument("--test-size", type=_positive_int, default=None, help="subsample the test set")
    run.add_argument("--max-epochs", type=_positive_int, default=30)
    run.add_argument("--width", type=int, choices=(16, 64), default=16)
    run.add_argument("--sparsity", type=float, default=0.002, help="fisher_mask only")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_command(args):
    X_pool, y_pool, X_test, y_test = load_split(
        args.dataset, data_dir=args.data_dir, pool_size=args.pool_size,
        test_size=args.test_size, seed=args.seed,
    )
    estimator = ResNet18Classifier(
        width=args.width, max_epochs=args.max_epochs, device=args.device,
        random_state=args.seed,
    )
    strategy = get_strategy(args.strategy, random_state=args.seed)
    if args.strategy == "fisher_mask":
        strategy = functools.partial(strategy, sparsity=args.sparsity)
    print(
        f"skfisher run: {args.dataset} (pool {len(y_pool)}, test {len(y_test)}), "
        f"strategy {args.strategy}, {args.n_initial} + {args.rounds} x {args.batch_size} "
        f"labels, device {estimator.device}, seed {args.seed}",
        flush=True,
    )
    rounds, _ = run_active_learning(
        estimator, strategy, X_pool, y_pool, X_test, y_test,
        n_initial=args.n_initial, batch_size=args.batch_size, n_rounds=args.rounds,
        random_state=args.seed, progress=not args.quiet,
    )
    print(format_table(rounds))
    meta = {k: v for k, v in vars(args).items() if k != "command"}
    meta["device"] = str(estimator.device)
    meta["accuracy_on"] = f"test set ({len(y_test)} rows)"
    paths = save_results(
        rounds, args.output_dir, meta=meta,
        title=f"{args.dataset}: {args.strategy} (seed {args.seed})", ylabel="test accuracy",
    )
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.rounds < 0:
            parser.error("--rounds must be >= 0")
        try:
            return run_command(args)
        except (ValueError, FileNotFoundError) as exc:
            print(f"skfisher: error: {exc}", file=sys.stderr)
            return 2
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
