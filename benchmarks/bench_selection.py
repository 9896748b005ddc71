"""Greedy selection: incremental Woodbury state against per-step recomputation.

The brute-force step is the reference code's per-step algorithm (BAIT's and
FisherMask's ``select``), vectorised in torch: every step recomputes
``Ṽ_x A Ṽ_xᵀ`` and ``Ṽ_x A F A Ṽ_xᵀ`` for every candidate from the d x d
matrices, as the chain of products the reference writes (O(n C d²)).
Both run in float64 on the same device in the same process; the ratio is
what this benchmark reports (set-up included for ours).

Usage: python benchmarks/bench_selection.py [--n 3000 --C 10 --d 400 --n-instances 50 --device cpu]
"""

import argparse
import datetime

import numpy as np
import torch
from _common import device_name, timed, write_result

from skfisher.selection import select_batch


def brute_force_steps(V, K, lam, steps):
    """``steps`` greedy steps recomputing every candidate's score from ``A``."""
    n, C, d = V.shape
    F = torch.einsum("xcd,xce->de", V, V) / n
    A = torch.eye(d, dtype=V.dtype, device=V.device) / lam
    eye = torch.eye(C, dtype=V.dtype, device=V.device)
    Vs = V * np.sqrt(1.0)  # n_labeled = 0: scale K / (0 + K) = 1
    flat = Vs.reshape(n * C, d)
    chosen = torch.zeros(n, dtype=torch.bool, device=V.device)
    picks = []
    for _ in range(steps):
        B = (flat @ A).view(n, C, d)  # xt @ currentInv
        P = B @ Vs.transpose(1, 2)
        Q = ((B.reshape(n * C, d) @ F @ A).view(n, C, d)) @ Vs.transpose(1, 2)
        gain = torch.linalg.solve(eye + P, Q).diagonal(dim1=1, dim2=2).sum(-1)
        u = int(torch.argmax(gain.masked_fill(chosen, -torch.inf)))
        chosen[u] = True
        picks.append(u)
        W = A @ Vs[u].T
        A = A - W @ torch.linalg.solve(eye + Vs[u] @ W, W.T)
    return picks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--C", type=int, default=10)
    parser.add_argument("--d", type=int, default=400)
    parser.add_argument("--n-instances", type=int, default=50, help="labels per query (K)")
    parser.add_argument(
        "--brute-steps",
        type=int,
        default=5,
        help="brute-force steps timed (its cost per step is constant)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    V = torch.randn(args.n, args.C, args.d, generator=gen, dtype=torch.float64).to(device)

    runs = [
        timed(lambda: select_batch(V, args.n_instances, device=device), device)
        for _ in range(args.repeats)
    ]
    ours, t_ours = runs[0][0], min(t for _, t in runs)
    runs = [
        timed(lambda: brute_force_steps(V, args.n_instances, 1.0, args.brute_steps), device)
        for _ in range(args.repeats)
    ]
    picks, t_brute = runs[0][0], min(t for _, t in runs)
    same = list(ours[: args.brute_steps]) == picks
    runs = [
        timed(
            lambda: select_batch(V.float(), args.n_instances, device=device, return_gains=True),
            device,
        )
        for _ in range(args.repeats)
    ]
    (ours32, _, obj32), t_ours32 = runs[0][0], min(t for _, t in runs)
    obj64 = select_batch(V, args.n_instances, device=device, return_gains=True)[2]
    per_step_ours = t_ours / args.n_instances
    per_step_brute = t_brute / args.brute_steps
    result = {
        "benchmark": "bench_selection",
        "date": datetime.date.today().isoformat(),
        "device": device_name(device),
        "device_type": device.type,
        "problem": {
            "n": args.n,
            "C": args.C,
            "d": args.d,
            "K": args.n_instances,
            "dtype": "float64",
        },
        "timing": f"best of {args.repeats} runs each, same process",
        "select_batch_seconds_total": round(t_ours, 4),
        "select_batch_seconds_per_step_incl_setup": round(per_step_ours, 5),
        "brute_force_seconds_per_step": round(per_step_brute, 5),
        "speedup_per_step": round(per_step_brute / per_step_ours, 1),
        "first_picks_identical": same,
        "float32_storage": {
            "select_batch_seconds_total": round(t_ours32, 4),
            "speedup_per_step": round(per_step_brute / (t_ours32 / args.n_instances), 1),
            "picks_identical_to_float64": bool(np.array_equal(ours32, ours)),
            "objective_relative_drift": float(abs(obj32 - obj64) / abs(obj64)),
        },
        "target": ">= 20x per step on CPU at n=3000, C=10, d=400, K=50",
    }
    write_result("bench_selection", result)


if __name__ == "__main__":
    main()
