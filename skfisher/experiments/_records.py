"""The files of a comparison folder: ``rounds.jsonl`` (one JSON line per
finished round) and ``manifest.json`` (the protocol its records were made with).
"""

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..strategies import STRATEGIES
from ..utils._files import append_line, folder_lock, write_atomic
from ..utils._validation import Integers

ROUNDS_FILE = "rounds.jsonl"
MANIFEST_FILE = "manifest.json"
#: Where unreadable lines of ``rounds.jsonl`` are moved, verbatim.
REJECTED_FILE = "rounds.rejected.txt"

_RECORD_TYPES = {
    "setting": str,
    "strategy": str,
    "seed": int,
    "round": int,
    "n_labels": int,
    "accuracy": (int, float, type(None)),
    "query_seconds": (int, float),
    "fit_seconds": (int, float),
    "new_rows": list,
}


def _key(record):
    return record["setting"], record["strategy"], record["seed"], record["round"]


def _is_record(obj):
    return (
        isinstance(obj, dict)
        and all(
            isinstance(obj.get(k), t) and not isinstance(obj.get(k), bool)
            for k, t in _RECORD_TYPES.items()
        )
        and obj["round"] >= 0
        and all(Integers(0).is_satisfied_by(i) for i in obj["new_rows"])
    )


def _read_rounds(path):
    """``(records, bad)``: the valid records, and ``(line number, raw line)`` of the rest.

    A line is bad when it is not a JSON round record (blank, garbage, torn,
    ``{}``, ``null``...) or repeats the key (setting, strategy, seed, round)
    of an earlier record.
    """
    records, bad, seen = [], [], set()
    if not Path(path).exists():
        return records, bad
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                obj = json.loads(raw)
            except ValueError:  # JSONDecodeError and undecodable bytes
                obj = None
            if not _is_record(obj) or _key(obj) in seen:
                bad.append((number, raw))
                continue
            seen.add(_key(obj))
            records.append(obj)
    return records, bad


def _describe(bad):
    numbers = [n for n, _ in bad]
    shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return f"{len(bad)} unreadable or repeated line(s) (line {shown})"


def load_rounds(path):
    """The round records of a ``rounds.jsonl`` file; the file is never modified.

    Lines that are not valid round records (blank, garbage, a torn line from a
    crash mid-write, ``{}``, ``null``, or a repeat of an earlier record's
    setting, strategy, seed and round) are skipped with a warning; every
    other record is returned. :func:`run_comparison` moves such lines to
    ``rounds.rejected.txt`` next to the file.

    Returns
    -------
    records : list of dict
    """
    records, bad = _read_rounds(path)
    if bad:
        warnings.warn(f"{path}: skipped {_describe(bad)}.", RuntimeWarning, stacklevel=2)
    return records


def _set_aside_bad_lines(path):
    """Move the bad lines of ``path`` to :data:`REJECTED_FILE`; return the good records."""
    path = Path(path)
    with folder_lock(path.parent, name=path.name + ".lock", wait=True):
        records, bad = _read_rounds(path)
        if not bad:
            return records
        rejected = path.parent / REJECTED_FILE
        with open(rejected, "ab") as f:
            for _, raw in bad:
                f.write(raw if raw.endswith(b"\n") else raw + b"\n")
            f.flush()
            os.fsync(f.fileno())
        bad_numbers = {n for n, _ in bad}
        with open(path, "rb") as f:
            kept = [raw for n, raw in enumerate(f, 1) if n not in bad_numbers]
        write_atomic(path, b"".join(kept))
    warnings.warn(
        f"{path}: moved {_describe(bad)} to {rejected}; the {len(records)} valid records are kept.",
        RuntimeWarning,
        stacklevel=3,
    )
    return records


def _append(path, record):
    """Append one record durably, unless its key is already saved.

    The append holds ``rounds.jsonl.lock``, so parallel workers of one
    comparison never interleave or duplicate lines.
    """
    path = Path(path)
    with folder_lock(path.parent, name=path.name + ".lock", wait=True):
        records, _ = _read_rounds(path)
        if _key(record) in {_key(r) for r in records}:
            return
        append_line(path, json.dumps(record))


#: Parameters that say where a run computes, not what it computes.
_NOT_PROTOCOL = {"device", "verbose"}


def _jsonable(value):
    """``value`` as JSON data; classes and functions by their qualified name."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def _strategy_params(name, params=None):
    """A registered strategy's parameters, its class's defaults updated with
    ``params``, kept under the class's name (e.g. ``{"FisherMask": {...}}``)."""
    strategy = STRATEGIES[name](**dict(params or {}))
    return _jsonable({type(strategy).__name__: _without_compute(strategy.get_params())})


def _variant_protocol(label, name, params):
    """A strategy variant's part of the protocol: its full parameters, and the
    registered name it runs when that is not its label."""
    return {**({} if label == name else {"strategy": name}), **_strategy_params(name, params)}


def _without_compute(params):
    return {
        k: v for k, v in params.items() if k not in {"n_instances", "random_state", *_NOT_PROTOCOL}
    }


def _protocol(schedule, estimator_params, variants):
    """What every record of a setting's folder must share (``n_rounds`` may grow).

    ``variants`` maps each strategy label to its ``(name, params)``.
    """
    params = _without_compute(estimator_params or {})
    return {
        "n_initial": schedule["n_initial"],
        "n_instances": schedule["n_instances"],
        "estimator_params": _jsonable(params),
        "strategies": {
            label: _variant_protocol(label, name, params)
            for label, (name, params) in variants.items()
        },
    }


def _differences(saved, now, prefix=""):
    out = []
    for k in sorted(set(saved) | set(now)):
        a, b = saved.get(k, "<unset>"), now.get(k, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} saved, {b!r} now")
    return out


def _read_manifest(path):
    """``manifest.json`` (empty when missing); a damaged one raises a ValueError
    that names it and says what to do."""
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        why = f"not JSON: {exc}"
    else:
        shape = ("n_initial", "n_instances", "estimator_params", "strategies")
        wrong = not isinstance(manifest, dict) or not all(
            isinstance(p, dict)
            and all(k in p for k in shape)
            and isinstance(p["strategies"], dict)
            and isinstance(p["estimator_params"], dict)
            for p in manifest.values()
        )
        if not wrong:
            return manifest
        why = "valid JSON, but not a protocol per setting"
    raise ValueError(
        f"{path} is damaged ({why}). Restore it from a backup, or delete it: the next "
        "run then checks the saved rounds' schedule and saves its own protocol for them."
    )


def _check_protocol(folder, setting, protocol):
    """Compare ``protocol`` with the one saved for ``setting``'s records; save it.

    Only what has records must agree: the schedule, the estimator parameters
    and the parameters of each strategy with records. A folder with records
    but no manifest (written before manifests existed) adopts ``protocol``
    if its records agree with the schedule.

    Raises
    ------
    ValueError
        When the saved protocol differs; the message lists the differences.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    manifest = _read_manifest(manifest_path)
    saved = manifest.get(setting)
    records = [r for r in _read_rounds(folder / ROUNDS_FILE)[0] if r["setting"] == setting]
    if records and saved is None:
        wrong = [
            r
            for r in records
            if r["n_labels"] != protocol["n_initial"] + r["round"] * protocol["n_instances"]
        ]
        if wrong:
            raise ValueError(
                f"{folder} holds {setting} rounds of another schedule (e.g. round "
                f"{wrong[0]['round']} with {wrong[0]['n_labels']} labels, not "
                f"n_initial={protocol['n_initial']} + round x "
                f"n_instances={protocol['n_instances']}); use another output folder."
            )
        warnings.warn(
            f"{folder} has {setting} records but no {MANIFEST_FILE} (made before "
            "protocols were saved); only their schedule could be checked. Saving "
            "this run's protocol as theirs.",
            RuntimeWarning,
            stacklevel=3,
        )
    elif records:
        kept = {
            s: saved["strategies"][s]
            for s in {r["strategy"] for r in records}
            if s in saved["strategies"]
        }
        shared = {s: p for s, p in protocol["strategies"].items() if s in kept}
        diffs = _differences(
            {**saved, "strategies": {s: kept[s] for s in shared}},
            {**protocol, "strategies": shared},
        )
        if diffs:
            raise ValueError(
                f"{folder} holds {setting} results of another protocol, which would be "
                "mixed with these:\n  "
                + "\n  ".join(diffs)
                + "\nRun the saved protocol to resume it, or choose another output folder."
            )
        protocol = {**protocol, "strategies": {**kept, **protocol["strategies"]}}
    if saved != protocol:
        manifest[setting] = protocol
        write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
