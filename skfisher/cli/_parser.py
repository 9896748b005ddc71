"""The command line's arguments: the parsers of ``skfisher run``, ``compare`` and
``label`` (the commands themselves are in ``_main`` and ``_label``)."""

import argparse

from ..datasets._base import DATASETS
from ..experiments._settings import SETTINGS
from ..strategies import STRATEGIES
from ._label import add_label_parser

__all__ = ["build_parser"]


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


def _schedule_arguments(parser, n_initial, n_instances, n_rounds, note=""):
    """``--n-initial``, ``--n-instances`` and ``--n-rounds``: the labels of a run."""
    parser.add_argument(
        "--n-initial", type=_positive_int, default=n_initial, help="initial labeled rows" + note
    )
    parser.add_argument(
        "--n-instances", type=_positive_int, default=n_instances, help="labels per query" + note
    )
    parser.add_argument(
        "--n-rounds", type=int, default=n_rounds, help="queries after the initial fit" + note
    )


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
    run.add_argument(
        "--baseline",
        choices=("random", "none"),
        default="random",
        help="also run random sampling with the same initial labels, seed and training, "
        "and say how many labels the strategy saved; none: the strategy alone",
    )
    _schedule_arguments(run, n_initial=50, n_instances=50, n_rounds=4)
    run.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="random_state of the split, the network, the strategy and the initial rows",
    )
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
    _schedule_arguments(cmp_, None, None, None, note="; setting's default")
    _training_arguments(cmp_)
    cmp_.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="(strategy, seed) runs at once, each in its own process; same results as --jobs 1",
    )
    cmp_.add_argument("--quiet", action="store_true")


def _training_arguments(parser):
    """The training protocol of ``compare``'s networks."""
    parser.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="sgd: momentum 0.9, cosine decay; adam: as the reference",
    )
    parser.add_argument("--lr", type=float, default=None, help="0.05 for sgd, 1e-3 for adam")
    parser.add_argument("--max-epochs", type=_positive_int, default=30)
    parser.add_argument(
        "--train-until",
        type=float,
        default=None,
        help="stop at this training accuracy (max-epochs caps it)",
    )
    parser.add_argument("--width", type=int, choices=(16, 64), default=16)
    parser.add_argument("--device", default="auto")
