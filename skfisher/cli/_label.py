"""``skfisher label {init,add,query,teach,status,export,serve}``: the command line of
:class:`~skfisher.LabelingProject`."""

import argparse
import sys
import warnings

from ..labeling import LabelingProject
from ..strategies import STRATEGIES

__all__ = ["add_label_parser", "label_command"]

_FORMAT = argparse.ArgumentDefaultsHelpFormatter


def add_label_parser(subparsers, positive_int):
    """Add ``skfisher label {init,add,query,teach,status,export,serve}`` to the CLI."""
    label = subparsers.add_parser(
        "label",
        help="label your own images: query -> label -> teach, in a project folder",
        formatter_class=_FORMAT,
    )
    sub = label.add_subparsers(dest="label_command", required=True)
    _add_init_parser(sub, positive_int)
    add = _subparser(sub, "add", "add images that arrived later (copies are skipped)")
    add.add_argument("folder", help="images to add (searched recursively)")
    query = _subparser(sub, "query", "train on the labels so far and pick images to label")
    query.add_argument("-n", type=positive_int, default=100, help="images to query")
    query.add_argument("--strategy", choices=sorted(STRATEGIES), default="fisher_mask")
    query.add_argument("--sparsity", type=float, default=None, help="fisher_mask only")
    query.add_argument("--device", default="auto")
    query.add_argument(
        "--max-candidates",
        type=positive_int,
        default=10_000,
        help="unlabeled images scored at most (a random draw); bounds memory and time",
    )

    teach = _subparser(sub, "teach", "take in a filled-in labels CSV")
    teach.add_argument("labels", help="CSV with columns path and label (blank labels skipped)")
    teach.add_argument("--relabel", action="store_true", help="allow changing earlier labels")

    status = _subparser(sub, "status", "rounds, label counts, cross-validated accuracy")
    status.add_argument("--cv", type=int, default=3, help="folds; 0 skips cross-validation")
    status.add_argument("--device", default="auto")

    export = _subparser(sub, "export", "pickle a round's model for use in Python")
    export.add_argument("output", help="file to write (.pkl)")
    export.add_argument("--round", type=int, default=None, help="default: the last")
    _add_serve_parser(sub, positive_int)
    return label


def _subparser(sub, name, help):
    """``skfisher label <name> PROJECT ...``."""
    parser = sub.add_parser(name, help=help, formatter_class=_FORMAT)
    parser.add_argument("project")
    return parser


def _add_serve_parser(sub, positive_int):
    serve = _subparser(sub, "serve", "label in the browser: a local page (needs skfisher[app])")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("-n", type=positive_int, default=20, help="images per round")
    serve.add_argument("--strategy", choices=sorted(STRATEGIES), default="fisher_mask")
    serve.add_argument("--cv", type=int, default=3, help="folds of the learning curve; 0: none")
    serve.add_argument("--device", default="auto")


def _add_init_parser(sub, positive_int):
    init = _subparser(sub, "init", "create a project from image folders")
    init.add_argument("--labeled", default=None, help="labeled images, one sub-folder per class")
    init.add_argument("--unlabeled", default=None, help="images to label (searched recursively)")
    init.add_argument(
        "--classes", nargs="+", default=None, help="class names (besides the --labeled sub-folders)"
    )
    init.add_argument(
        "--image-size",
        type=positive_int,
        nargs="+",
        default=[32],
        metavar=("HEIGHT", "WIDTH"),
        help="every image is resized to this",
    )
    init.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=None,
        help="1 greyscale, 3 RGB (default: greyscale if every image is)",
    )
    init.add_argument("--width", type=int, choices=(16, 64), default=16)
    init.add_argument("--max-epochs", type=positive_int, default=30)
    init.add_argument("--random-state", type=int, default=0)


def label_command(args):
    """Run a parsed ``skfisher label ...`` command; returns the exit status."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = _LABEL_COMMANDS[args.label_command](args)
        except KeyboardInterrupt:
            print(
                "skfisher: interrupted; the project is as the last finished step left it "
                "and the next command continues from there",
                file=sys.stderr,
            )
            code = 130
        finally:
            for w in caught:
                # the user's data and run; libraries' notices to developers stay out
                if issubclass(w.category, (UserWarning, RuntimeWarning)):
                    print(f"skfisher: warning: {w.message}", flush=True)
    return code


def _init(args):
    if len(args.image_size) > 2:
        raise ValueError(f"--image-size takes HEIGHT [WIDTH]; got {args.image_size}.")
    project = LabelingProject.create(
        args.project,
        labeled=args.labeled,
        unlabeled=args.unlabeled,
        classes=args.classes,
        image_size=tuple(args.image_size * 2 if len(args.image_size) == 1 else args.image_size),
        channels=args.channels,
        width=args.width,
        max_epochs=args.max_epochs,
        random_state=args.random_state,
    )
    s, config = project.status(cv=0, plot=False), project.config
    print(
        f"created {project.path}: {s['n_pool']} images ({s['n_labeled']} labeled), classes "
        f"{', '.join(project.classes)}, stored at {config['channels']} x "
        f"{config['image_size'][0]} x {config['image_size'][1]}"
    )
    for mode, how in config["conversions"].items():
        if "as is" not in how:
            print(f"  images of mode {mode}: {how}")
    print(f"next: skfisher label query {project.path} -n 100")
    return 0


def _add(args):
    project = LabelingProject(args.project)
    s = project.add(args.folder)
    print(
        f"added {s['added']} image(s) to {project.path}; skipped {s['already_in_pool']} "
        f"already in the pool, {s['same_content']} with the same content as a pool image, "
        f"{s['unreadable']} unreadable; {s['n_pool']} images in the pool"
    )
    return 0


def _query(args):
    project = LabelingProject(args.project)
    params = {} if args.sparsity is None else {"sparsity": args.sparsity}
    if params and args.strategy != "fisher_mask":
        raise ValueError("--sparsity applies to --strategy fisher_mask only.")
    result = project.query(
        args.n,
        strategy=args.strategy,
        strategy_params=params,
        device=args.device,
        max_candidates=args.max_candidates,
    )
    folded = result["folded"]
    if folded:
        print(
            f"took in {folded['new']} new label(s) filled into {folded['file']}, which an "
            "interrupted query had written but not committed"
        )
    print(f"round {result['round']}: {len(result['paths'])} images to label")
    print(f"  fill in the label column of {result['to_label']}")
    print(f"  (the images are numbered as its rows in {result['contact_sheet']})")
    print(f"then: skfisher label teach {project.path} {result['to_label']}")
    return 0


def _teach(args):
    project = LabelingProject(args.project)
    s = project.teach(args.labels, relabel=args.relabel)
    print(
        f"taught {s['new']} new label(s)"
        + (f", changed {s['changed']}" if s["changed"] else "")
        + f"; {s['already_known']} already known, {s['blank']} blank row(s) skipped; "
        f"{len(project.labels())} labels in all"
    )
    return 0


def _status(args):
    project = LabelingProject(args.project)
    s = project.status(cv=args.cv, device=args.device)
    print(f"{project.path}: {s['n_labeled']} of {s['n_pool']} images labeled")
    width = max(len(c) for c in s["counts"])
    for name, count in s["counts"].items():
        print(f"  {name:<{width}}  {count:>6}")
    for r in s["rounds"]:
        print(
            f"round {r['round']:>2}: {r['n_queried']} queried ({r['strategy']}), "
            f"{r['n_labeled']} labeled, "
            + (
                f"its folder was deleted: {r['n_candidates_again']} unlabeled image(s) are "
                "candidates again"
                if r["deleted"]
                else f"{r['n_waiting']} waiting in {r['to_label']}"
            )
        )
    if s["skipped"]:
        print(f"{len(s['skipped'])} file(s) skipped when read (unreadable or copies)")
    for mode, how in s["conversions"].items():
        if "as is" not in how:
            print(f"images of mode {mode}: {how}")
    if s["learning_curve"]:
        print(f"{'labels':>6}  accuracy ({args.cv}-fold cross-validation)")
        for p in s["learning_curve"]:
            acc = (
                f"{p['accuracy']:.3f} ± {p['std']:.3f}" if p["accuracy"] is not None else p["note"]
            )
            print(f"{p['n_labels']:>6}  {acc}")
    if s["plot"]:
        print(f"wrote {s['plot']}")
    return 0


def _export(args):
    path = LabelingProject(args.project).export_model(args.output, args.round)
    print(f"wrote {path}; load it with pickle.load(open({str(path)!r}, 'rb'))")
    return 0


def _serve(args):
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            f"skfisher label serve needs the app extra ({exc.name} is missing): "
            "pip install 'skfisher[app]'."
        ) from None
    if args.cv == 1 or args.cv < 0:
        raise ValueError(f"--cv must be 0 (no learning curve) or an int >= 2; got {args.cv}.")
    from ..app import serve

    LabelingProject(args.project)  # fails early for a folder that is no project
    serve(
        args.project,
        host=args.host,
        port=args.port,
        n=args.n,
        strategy=args.strategy,
        device=args.device,
        cv=args.cv,
    )
    return 0


_LABEL_COMMANDS = {
    "init": _init,
    "add": _add,
    "query": _query,
    "teach": _teach,
    "status": _status,
    "export": _export,
    "serve": _serve,
}
