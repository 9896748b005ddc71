"""Which parts of FisherMask earn their cost: an ablation study (issue 14).

One factor at a time is varied around the default FisherMask, on digits and on
a class-imbalanced FashionMNIST subset sized for a CPU (``fashion_imb10_small``).
Every table also shows BAIT, margin, random and the reference preset
(``FisherMask.reference()``) for context. The default variant is run once per
setting and shared by all factor tables.

The runs go through ``skfisher.experiments._compare.run_comparison`` (its folders,
manifests and locks), so an interrupted study resumes where it stopped: rerun
the same command. ``benchmarks/ABLATION.md`` is always generated from the
records of every setting and factor: ``--settings``, ``--factors`` and
``--variants`` only choose what runs (a factor not yet run shows "not run").

    python benchmarks/ablation.py --jobs 2 --threads 1     # the whole study (hours)
    python benchmarks/ablation.py --factors sparsity lam   # some factors only
    python benchmarks/ablation.py --report-only            # rewrite ABLATION.md only
    python benchmarks/ablation.py --quick                  # a smoke test (a minute or two)

The large masks dominate the cost: on a CPU a query at sparsity 0.02 takes
minutes and about 13 GB of memory (the float64 selection state grows with the
mask), so run ``--factors sparsity`` with ``--jobs 1`` where memory is short,
the other factors with more jobs.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from skfisher import FisherMask
from skfisher.active import aulc
from skfisher.datasets import load_split
from skfisher.experiments import SETTINGS, load_rounds, run_comparison

HERE = Path(os.path.relpath(Path(__file__).parent))  # relative: the command is recorded
SETTING_NAMES = ("digits", "fashion_imb10_small")
DEFAULT = "default"
#: One line per run invocation (machine, threads, jobs), beside the setting folders.
INVOCATIONS = "invocations.jsonl"

#: factor -> its variants around the default, as FisherMask parameters
FACTORS = {
    "mask": [{"mask": "output"}, {"mask": "per_layer"}, {"mask": "random"}, {"layers": ["layer4"]}],
    "sparsity": [{"sparsity": 0.005}, {"sparsity": 0.01}, {"sparsity": 0.02}],
    "backward_steps": [{"backward_steps": 1}],
    "lam": [{"lam": 0.01}, {"lam": 0.1}],
    "weighting": [{"weighting": "unweighted"}],
    "fisher_samples": [{"fisher_samples": 256}, {"fisher_samples": 1024}],
    "fisher": [{"fisher": "sampled"}],
}


def _preset(strategy):
    """The parameters of a FisherMask that differ from the defaults."""
    default = FisherMask().get_params()
    return {k: v for k, v in strategy.get_params().items() if v != default[k]}


#: Context rows of every table: label -> (registered strategy, parameters).
BASELINES = {
    "reference": ("fisher_mask", _preset(FisherMask.reference())),
    "bait": ("bait", {}),
    "margin": ("margin", {}),
    "random": ("random", {}),
}


def _text(value):
    return "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def label(params):
    """A variant's label: ``"sparsity=0.005"``, ``"layers=layer4"``."""
    return ",".join(f"{k}={_text(v)}" for k, v in params.items())


def variants(factors):
    """``{label: (name, params)}``: the default, each factor's variants, the baselines."""
    chosen = {DEFAULT: ("fisher_mask", {})}
    for factor in factors:
        chosen.update({label(p): ("fisher_mask", p) for p in FACTORS[factor]})
    return {**chosen, **BASELINES}


def estimator_params(device, max_epochs=30):
    """The training protocol: that of ``skfisher compare``'s defaults, stated in full."""
    return {
        "optimizer": torch.optim.SGD,
        "lr": 0.05,
        "max_epochs": max_epochs,
        "train_until": None,
        "width": 16,
        "device": device,
    }


def quick_setting(pool_size=150, test_size=100):
    """digits with a small pool and test set, and 20 + 1 x 10 labels: a smoke test."""
    data = load_split("digits", pool_size=pool_size, test_size=test_size, random_state=0)
    return dict(
        name="digits_quick",
        dataset="digits",
        data=data,
        n_initial=20,
        n_instances=10,
        n_rounds=1,
        description=f"digits, {pool_size}-image pool, {test_size}-image test set (smoke test)",
    )


def budgets(spec):
    """The label counts of a setting's schedule."""
    return [spec["n_initial"] + r * spec["n_instances"] for r in range(spec["n_rounds"] + 1)]


# --- statistics of the records (unit-tested on synthetic records) ---


def complete_runs(records, labels, seeds, budget):
    """``{label: {seed: record list in round order}}`` of the runs that reached every budget."""
    runs = {}
    for r in records:
        if r["strategy"] in labels and r["seed"] in seeds and r["n_labels"] in budget:
            runs.setdefault(r["strategy"], {}).setdefault(r["seed"], {})[r["n_labels"]] = r
    return {
        name: {
            seed: [by_n[b] for b in budget]
            for seed, by_n in sorted(per_seed.items())
            if len(by_n) == len(budget)
        }
        for name, per_seed in runs.items()
    }


def run_stats(runs, budget):
    """Per seed AULC, mean accuracy at each budget and mean query seconds per round."""
    acc = np.array([[r["accuracy"] for r in run] for run in runs.values()])
    queries = [r["query_seconds"] for run in runs.values() for r in run[1:]]
    return {
        "aulc": {seed: aulc(budget, row) for seed, row in zip(runs, acc)},
        "accuracy": acc.mean(0),
        "query_seconds": float(np.mean(queries)) if queries else 0.0,
    }


def paired_difference(variant, default, level=0.95):
    """The AULC difference ``variant - default`` over the seeds both have.

    Parameters
    ----------
    variant, default : dict
        ``{seed: AULC}``.
    level : float, default=0.95

    Returns
    -------
    diff : dict
        ``deltas`` (per paired seed, in seed order), ``n`` (paired seeds),
        ``mean``, the paired t confidence interval ``low``, ``high`` (NaN
        with fewer than two seeds) and ``better`` (seeds where the variant's
        AULC is higher).
    """
    seeds = sorted(set(variant) & set(default))
    d = np.array([variant[s] - default[s] for s in seeds])
    out = {
        "deltas": d.tolist(),
        "n": len(d),
        "mean": float(d.mean()) if len(d) else np.nan,
        "low": np.nan,
        "high": np.nan,
        "better": int((d > 0).sum()),
    }
    if len(d) >= 2:
        half = stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out


def verdict(diff):
    """``"better"``/``"worse"`` when the CI excludes 0 (beyond noise), ``"too few seeds"``
    for an interval from fewer than two, else ``"within noise"``."""
    if diff["n"] < 2:
        return "too few seeds"
    if diff["low"] > 0:
        return "better"
    if diff["high"] < 0:
        return "worse"
    return "within noise"


def _signed(x):
    return "–" if np.isnan(x) else f"{x:+.3f}"


def factor_table(factor, stats_by_label, budget, rows, defaults=None):
    """A factor's Markdown table: the default, the factor's variants and the baselines.

    ``defaults`` are the default variant's FisherMask parameters as run (from
    the manifest); None: today's defaults.
    """
    defaults = defaults or FisherMask().get_params()
    lines = [
        "| variant | seeds | AULC | "
        + " | ".join(map(str, budget))
        + " | query s/round | Δ AULC [95 % CI] | Δ per seed | better in | vs default |",
        "|---" * (len(budget) + 8) + "|",
    ]
    default = f"{DEFAULT} ({factor}={_text(defaults[factor])})"
    for name in rows:
        s = stats_by_label.get(name)
        shown = default if name == DEFAULT else name
        if s is None:
            lines.append(f"| {shown} | 0 | not run |" + " |" * (len(budget) + 5))
            continue
        areas = np.array(list(s["aulc"].values()))
        cells = [
            f"| {shown} | {len(areas)} | {areas.mean():.3f} ± {areas.std():.3f}",
            *(f"{a:.3f}" for a in s["accuracy"]),
            f"{s['query_seconds']:.1f}",
        ]
        if name == DEFAULT or DEFAULT not in stats_by_label:
            cells += ["", "", "", ""]
        else:
            d = paired_difference(s["aulc"], stats_by_label[DEFAULT]["aulc"])
            ci = f"{_signed(d['mean'])} [{_signed(d['low'])}, {_signed(d['high'])}]"
            cells += [
                ci,
                ", ".join(map(_signed, d["deltas"])),
                f"{d['better']}/{d['n']}",
                verdict(d),
            ]
        lines.append(" | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(results, factors):
    """Per variant: the Δ AULC on each setting and where it beats the default beyond noise.

    ``results`` is ``{setting: {label: run_stats(...)}}``.
    """
    names = list(results)
    lines = [
        "| factor | variant | "
        + " | ".join(f"Δ AULC {n}" for n in names)
        + " | better beyond noise on |",
        "|---" * (len(names) + 3) + "|",
    ]
    groups = [(f, [label(p) for p in FACTORS[f]]) for f in factors]
    for factor, labels in groups + [("baselines", list(BASELINES))]:
        for name in labels:
            cells, wins = [], []
            for setting, by_label in results.items():
                if name not in by_label or DEFAULT not in by_label:
                    cells.append("not run")
                    continue
                d = paired_difference(by_label[name]["aulc"], by_label[DEFAULT]["aulc"])
                cells.append(f"{_signed(d['mean'])} ({verdict(d)})")
                wins += [setting] if verdict(d) == "better" else []
            lines.append(
                f"| {factor} | {name} | " + " | ".join(cells) + f" | {_where(wins, names)} |"
            )
    return "\n".join(lines)


def _where(wins, names):
    """ "both"/"all", the settings won, or "neither"/"none"."""
    if len(names) > 1 and len(wins) == len(names):
        return "both" if len(names) == 2 else "all"
    return ", ".join(wins) or ("neither" if len(names) == 2 else "none")


# --- the document ---

METHOD = """\
Each table varies one factor of `FisherMask` and keeps every other parameter
at its default; the default row is the same run in every table. BAIT, margin,
random and `FisherMask.reference()` (the reference code's settings) follow
for context.

Columns: the AULC (area under the learning curve, normalised to [0, 1],
`skfisher.active.aulc`) as mean ± std over seeds (ddof=0, as in RESULTS.md);
the mean test accuracy at each number of labels; the mean query seconds per
round; the paired difference of AULC from the default over the same seeds
(same initial labels and network initialisation) with its 95 % confidence
interval from a paired t-test, mean ± t(0.975, n−1) · s / √n with s the
standard deviation of the per-seed differences (ddof=1); the per-seed
differences; and the number of seeds where the variant's AULC is higher.

A difference is called **better** or **worse** (beyond noise) only when its
interval excludes 0; otherwise it is within noise. With 3 seeds the interval
is wide (t = 4.30): only large, consistent differences pass."""


def machine():
    """This machine in words: its CPU model and cores."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:  # Linux: the model name
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def _commit():
    """The skfisher checkout's commit (with "+" when it has changes), or None."""
    here = Path(__file__).parent
    try:
        run = lambda *a: subprocess.run(
            ["git", *a], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        return run("rev-parse", "--short", "HEAD") + (
            "+" if run("status", "--porcelain", "--untracked-files=no") else ""
        )
    except (OSError, subprocess.CalledProcessError):
        return None


def header(command, seeds, invocations, generated):
    ran = sorted({(i["machine"], i["device"], i["threads"], i["jobs"]) for i in invocations})
    commits = [
        f"{i['setting']} {', '.join(i['variants'])} on {i['commit']}"
        for i in invocations
        if i.get("commit") and i.get("variants")
    ]
    lines = [
        "# FisherMask ablation",
        "",
        f"Generated by `{command}` on {generated}; do not edit by hand. The same command "
        "runs what is missing (resumable) and rewrites this file; add `--report-only` to "
        "rewrite it from the records alone.",
        "",
        f"- seeds: {', '.join(map(str, seeds))}",
    ]
    lines += [
        f"- runs computed on: {m}, device {d}, {t} torch thread(s) per run, {j} run(s) at once"
        for m, d, t, j in ran
    ] or ["- runs computed on: –"]
    lines += [f"- code: {c}" for c in commits]
    return "\n".join(lines)


def setting_section(spec, records, factors, seeds, folder):
    """A setting's Markdown section and its ``{label: run_stats}``."""
    budget = budgets(spec)
    chosen = variants(factors)
    runs = complete_runs(records, chosen, seeds, budget)
    results = {name: run_stats(r, budget) for name, r in runs.items() if r}
    compute = sum(
        r["query_seconds"] + r["fit_seconds"]
        for r in records
        if r["strategy"] in chosen and r["seed"] in seeds
    )
    manifest = folder / "manifest.json"
    saved = json.loads(manifest.read_text()).get(spec["name"], {}) if manifest.exists() else {}
    training = saved.get("estimator_params")
    # the default variant as it was run (FisherMask's defaults may change later)
    defaults = saved.get("strategies", {}).get(DEFAULT, {}).get("FisherMask")
    parts = [
        f"## {spec['name']}: {spec['description']}",
        "",
        f"Schedule {spec['n_initial']} + {spec['n_rounds']} x {spec['n_instances']} labels; "
        f"records in `{folder.as_posix()}`; {compute / 3600:.2f} h of query + fit time. "
        "Training (from `manifest.json`): "
        + (", ".join(f"{k}={v}" for k, v in training.items()) if training else "–")
        + ".",
        "The default variant is `FisherMask("
        + ", ".join(
            f"{k}={v!r}"
            for k, v in (defaults or {}).items()
            if k
            not in (
                "forward_batch_size",
                "storage",
                "output_layer",
                "trainable_only",
                "embedding_dtype",
                "max_candidates",
                "layers",
            )
        )
        + ")` as run"
        + (" (from `manifest.json`)." if defaults else ": –."),
    ]
    for factor in factors:
        rows = [DEFAULT, *(label(p) for p in FACTORS[factor]), *BASELINES]
        parts += ["", f"### {factor}", "", factor_table(factor, results, budget, rows, defaults)]
    return "\n".join(parts), results


def report(settings, factors, seeds, out, command, invocations=(), generated=None):
    """The whole Markdown document from the records under ``out``."""
    generated = generated or datetime.date.today().isoformat()
    sections, results = [], {}
    for spec in settings:
        path = out / spec["name"] / "rounds.jsonl"
        records = [
            r for r in (load_rounds(path) if path.exists() else []) if r["setting"] == spec["name"]
        ]
        text, results[spec["name"]] = setting_section(spec, records, factors, seeds, path.parent)
        sections.append(text)
    summary = [
        "## Summary",
        "",
        "Paired Δ AULC from the default per setting, and the settings where the "
        "variant beats the default beyond noise (its 95 % CI above 0).",
        "",
        summary_table(results, factors),
    ]
    return (
        "\n\n".join(
            [header(command, seeds, invocations, generated), METHOD, "\n".join(summary), *sections]
        )
        + "\n"
    )


# --- command line ---


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=SETTING_NAMES,
        default=list(SETTING_NAMES),
        help="run only these settings (the report covers all but with --quick)",
    )
    parser.add_argument(
        "--factors",
        nargs="+",
        choices=list(FACTORS),
        default=list(FACTORS),
        help="run only these factors (the report covers all but with --quick)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="run only these variants of the factors (e.g. sparsity=0.02, "
        "to run the memory-heavy ones with fewer jobs)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="(strategy, seed) runs at once")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument(
        "--output-dir",
        default=None,
        help=f"default: {HERE / 'runs' / 'ablation'} (--quick: a new temporary folder)",
    )
    parser.add_argument(
        "--markdown",
        default=None,
        help=f"default: {HERE / 'ABLATION.md'} (--quick: in the output folder)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=30,
        help="epochs of every fit (skfisher compare's default)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: digits with a 150-image pool, 20 + 1 x 10 labels, "
        "1 epoch, the first two seeds",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="only regenerate the Markdown from the records"
    )
    parser.add_argument("--quiet", action="store_true")
    return parser


def study_arguments(args):
    """The arguments that define the study (its seeds, records, document and training).

    ``--settings``, ``--factors``, ``--variants``, ``--jobs``, ``--threads`` and
    ``--quiet`` only choose which part runs and how, so the document they
    rewrite names the command for the whole study.
    """
    parser, words = build_parser(), []
    for dest in ("seeds", "output_dir", "markdown", "device", "max_epochs"):
        value = getattr(args, dest)
        if value != parser.get_default(dest):
            words += [
                "--" + dest.replace("_", "-"),
                *map(str, value if isinstance(value, list) else [value]),
            ]
    return words


def _specs(names):
    return [{"name": n, **SETTINGS[n]} for n in names]


def _run(settings, chosen, seeds, out, args, argv):
    """Run (or finish) every variant and seed of each setting, logging the invocation."""
    for spec in settings:
        tic = time.time()
        run_comparison(
            spec if args.quick else spec["name"],
            chosen,
            seeds,
            out / spec["name"],
            estimator_params=estimator_params(args.device, args.max_epochs),
            progress=not args.quiet,
            n_jobs=args.jobs,
            n_threads=args.threads,
        )
        out.mkdir(parents=True, exist_ok=True)
        with open(out / INVOCATIONS, "a") as f:
            f.write(
                json.dumps(
                    {
                        "setting": spec["name"],
                        "argv": argv,
                        "machine": machine(),
                        "device": args.device,
                        "threads": args.threads,
                        "jobs": args.jobs,
                        "seconds": time.time() - tic,
                        "finished": datetime.datetime.now().isoformat(),
                        "commit": _commit(),
                        "variants": sorted(chosen),
                    }
                )
                + "\n"
            )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.quick:
        settings, seeds, args.max_epochs = [quick_setting()], args.seeds[:2], 1
        out = Path(args.output_dir or tempfile.mkdtemp(prefix="skfisher-ablation-quick-"))
    else:
        settings = _specs(args.settings)
        seeds = args.seeds
        out = Path(args.output_dir or HERE / "runs" / "ablation")
    markdown = Path(args.markdown or (out / "ABLATION.md" if args.quick else HERE / "ABLATION.md"))
    chosen = variants(args.factors)
    unknown = sorted(set(args.variants or ()) - set(chosen))
    if unknown:
        raise SystemExit(
            f"ablation.py: unknown --variants {unknown} for these factors; "
            f"choose from {sorted(chosen)}."
        )
    to_run = {k: v for k, v in chosen.items() if k in set(args.variants or chosen)}
    try:
        if not args.report_only:
            _run(settings, to_run, seeds, out, args, argv)
    except KeyboardInterrupt:
        print(
            f"interrupted; every finished round is saved under {out}: rerun the same "
            "command to resume.",
            file=sys.stderr,
        )
        return 130
    log = out / INVOCATIONS
    invocations = (
        [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    )
    if args.quick:  # a smoke test reports what it ran, in its own folder
        factors, words = args.factors, [a for a in argv if a != "--report-only"]
    else:  # the study's document always covers every setting and factor
        settings = _specs(SETTING_NAMES)
        factors, words = list(FACTORS), study_arguments(args)
    command = "python " + " ".join([(HERE / "ablation.py").as_posix(), *words])
    markdown.write_text(report(settings, factors, seeds, out, command, invocations))
    print(f"wrote {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
