"""Cluster quality of pairpick's k-means against the true blobs and scikit-learn.

Issue 15, points 4 and 5, in one run (`make bench-clusters`, also run by
`make bench`). The blobs are generated here with numpy, written once to a
binary file that pairpick's side (tests/bench/clusters.c, linked with
build/libpairpick.a) and scikit-learn's side both read:

  overlap    20,000 x 96, k = 20: centres N(0, 0.3^2) per coordinate, points
             N(0, 1) around their centre (point 4);
  separated  20,000 x 96, k = 20 and 50,000 x 768, k = 50: unit centres,
             points N(0, s^2) around them with s = 0.03 * sqrt(768 / D), the
             spread of the bench table (tests/bench/gen.c) (point 5);
  timing     300,000 x 768, k = 50 separated blobs, mini-batch cosine: the
             bench's categorize configuration, normalize + fit timed.

Every fit uses n_init 3, max_iter 100, batch_size 1024 on both sides
(scikit-learn's other defaults; cosine = L2-normalized rows). For each
configuration it prints pairpick's ARI and share of `by: embedding` pairs
inside one true blob, scikit-learn's ARI (when sklearn is installed) and
the fit times; with --baseline DRIVER (a clusters driver built against
another libpairpick.a) that driver's figures too, side by side. Then the
targets: mini-batch ARI at least scikit-learn's on overlapping blobs, and a
pair share of at least 99% in every separated configuration. Exits 0 when
a target is missed (the table says MISS); non-zero only when it cannot run.

    clusters.py [--driver build/bench/clusters] [--baseline DRIVER]
                [--dir build/bench/blobs] [--sections overlap,separated,timing]
                [--seeds 5] [--large-seeds 3] [--timing-repeat 3] [--json OUT]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

try:
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score
except ImportError:  # the table then has no scikit-learn column
    KMeans = None

N_INIT, MAX_ITER, BATCH = 3, 100, 1024
COMBOS = [("minibatch", "cosine"), ("minibatch", "euclidean"), ("lloyd", "cosine"),
          ("lloyd", "euclidean")]


def blobs(kind, rows, dim, k, seed):
    """Rows (float32), true blob of each row (int32)."""
    rng = np.random.default_rng(seed)
    if kind == "overlap":
        centres = rng.normal(0.0, 0.3, size=(k, dim))
        sigma = 1.0
    else:
        centres = rng.normal(size=(k, dim))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        sigma = 0.03 * np.sqrt(768.0 / dim)
    truth = rng.integers(0, k, size=rows).astype(np.int32)
    data = np.empty((rows, dim), dtype=np.float32)
    step = 50000
    for start in range(0, rows, step):
        part = truth[start:start + step]
        noise = rng.standard_normal(size=(len(part), dim), dtype=np.float32)
        data[start:start + step] = centres[part].astype(np.float32) + np.float32(sigma) * noise
    return data, truth


def data_file(directory, kind, rows, dim, k, seed):
    path = os.path.join(directory, f"{kind}-{rows}x{dim}-k{k}-s{seed}.bin")
    if not os.path.exists(path):
        data, truth = blobs(kind, rows, dim, k, seed)
        with open(path + ".tmp", "wb") as out:
            out.write(np.array([rows, dim], dtype="<i8").tobytes())
            out.write(data.astype("<f4").tobytes())
            out.write(truth.astype("<i4").tobytes())
        os.replace(path + ".tmp", path)
    return path


def read_file(path):
    with open(path, "rb") as f:
        rows, dim = np.frombuffer(f.read(16), dtype="<i8")
        data = np.frombuffer(f.read(int(rows * dim) * 4), dtype="<f4").reshape(rows, dim)
        truth = np.frombuffer(f.read(int(rows) * 4), dtype="<i4")
    return data, truth


def pairpick(driver, path, algorithm, metric, k, seed, repeat=1):
    command = [driver, "--data", path, "--algorithm", algorithm, "--metric", metric,
               "--clusters", str(k), "--seed", str(seed), "--n-init", str(N_INIT),
               "--max-iter", str(MAX_ITER), "--batch-size", str(BATCH), "--repeat", str(repeat)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def sklearn_fit(data, truth, algorithm, metric, k, seed):
    if KMeans is None:
        return None
    x = data
    started = time.perf_counter()
    if metric == "cosine":
        x = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-30)
    if algorithm == "minibatch":
        model = MiniBatchKMeans(n_clusters=k, n_init=N_INIT, max_iter=MAX_ITER,
                                batch_size=BATCH, random_state=seed)
    else:
        model = KMeans(n_clusters=k, n_init=N_INIT, max_iter=MAX_ITER, random_state=seed)
    labels = model.fit_predict(x)
    seconds = time.perf_counter() - started
    return {"ari": adjusted_rand_score(truth, labels), "fit_s": seconds,
            "inertia": float(model.inertia_)}


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", default="build/bench/clusters")
    parser.add_argument("--baseline")
    parser.add_argument("--dir", default="build/bench/blobs")
    parser.add_argument("--sections", default="overlap,separated,timing")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--large-seeds", type=int, default=3)
    parser.add_argument("--timing-repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    sections = args.sections.split(",")
    os.makedirs(args.dir, exist_ok=True)
    if KMeans is None:
        print("clusters: scikit-learn is not installed (python3-sklearn): no reference column",
              file=sys.stderr)

    runs = []
    configs = []
    if "overlap" in sections:
        configs += [("overlap", 20000, 96, 20, seed, combo)
                    for combo in COMBOS for seed in range(1, args.seeds + 1)]
    if "separated" in sections:
        configs += [("separated", 20000, 96, 20, seed, combo)
                    for combo in COMBOS for seed in range(1, args.seeds + 1)]
        configs += [("separated", 50000, 768, 50, seed, combo)
                    for combo in COMBOS for seed in range(1, args.large_seeds + 1)]

    header = (f"{'data':<10} {'rows x dim':>11} {'k':>3} {'algorithm':<9} {'metric':<9} "
              f"{'seed':>4} | {'ARI':>6} {'pairs in':>8} {'fit s':>6}")
    if args.baseline:
        header += f" | {'old ARI':>7} {'old in':>7} {'old s':>6}"
    header += f" | {'sk ARI':>6} {'sk s':>6}"
    print(header)
    for kind, rows, dim, k, seed, (algorithm, metric) in configs:
        path = data_file(args.dir, kind, rows, dim, k, seed)
        run = {"data": kind, "rows": rows, "dim": dim, "k": k, "seed": seed,
               "algorithm": algorithm, "metric": metric,
               "pairpick": pairpick(args.driver, path, algorithm, metric, k, seed)}
        if args.baseline:
            run["baseline"] = pairpick(args.baseline, path, algorithm, metric, k, seed)
        data, truth = read_file(path)
        run["sklearn"] = sklearn_fit(data, truth, algorithm, metric, k, seed)
        runs.append(run)
        line = (f"{kind:<10} {f'{rows}x{dim}':>11} {k:>3} {algorithm:<9} {metric:<9} {seed:>4} | "
                f"{run['pairpick']['ari']:6.3f} {100 * run['pairpick']['pair_share']:7.2f}% "
                f"{run['pairpick']['fit_median_s']:6.2f}")
        if args.baseline:
            line += (f" | {run['baseline']['ari']:7.3f} "
                     f"{100 * run['baseline']['pair_share']:6.2f}% "
                     f"{run['baseline']['fit_median_s']:6.2f}")
        sk = run["sklearn"]
        line += f" | {fmt(sk and sk['ari'], '6.3f')} {fmt(sk and sk['fit_s'], '6.2f')}"
        print(line, flush=True)

    summary = {}
    print()
    for kind in ("overlap", "separated"):
        for algorithm, metric in COMBOS:
            chosen = [r for r in runs if r["data"] == kind and r["algorithm"] == algorithm
                      and r["metric"] == metric]
            if not chosen:
                continue
            name = f"{kind} {algorithm}/{metric}"
            entry = {
                "ari": float(np.mean([r["pairpick"]["ari"] for r in chosen])),
                "min_pair_share": min(r["pairpick"]["pair_share"] for r in chosen),
            }
            if args.baseline:
                entry["baseline_ari"] = float(np.mean([r["baseline"]["ari"] for r in chosen]))
                entry["baseline_min_pair_share"] = min(r["baseline"]["pair_share"]
                                                       for r in chosen)
            if all(r["sklearn"] for r in chosen):
                entry["sklearn_ari"] = float(np.mean([r["sklearn"]["ari"] for r in chosen]))
            summary[name] = entry
            text = f"{name:<32} mean ARI {entry['ari']:.3f}"
            if "baseline_ari" in entry:
                text += f" (old {entry['baseline_ari']:.3f})"
            if "sklearn_ari" in entry:
                text += f", scikit-learn {entry['sklearn_ari']:.3f}"
            text += f"; worst pair share {100 * entry['min_pair_share']:.2f}%"
            if "baseline_min_pair_share" in entry:
                text += f" (old {100 * entry['baseline_min_pair_share']:.2f}%)"
            print(text)

    targets = []
    for algorithm, metric in COMBOS:
        entry = summary.get(f"overlap {algorithm}/{metric}")
        if algorithm == "minibatch" and entry and "sklearn_ari" in entry:
            targets.append((f"overlap minibatch/{metric}: ARI >= scikit-learn's - 0.02",
                            entry["ari"] >= entry["sklearn_ari"] - 0.02))
    separated = [r for r in runs if r["data"] == "separated"]
    if separated:
        inside = sum(r["pairpick"]["pair_share"] >= 0.99 for r in separated)
        targets.append((f"separated: pair share >= 99% in every configuration "
                        f"({inside}/{len(separated)})", inside == len(separated)))

    if "timing" in sections:
        path = data_file(args.dir, "separated", 300000, 768, 50, 42)
        timing = {"pairpick": pairpick(args.driver, path, "minibatch", "cosine", 50, 42,
                                       args.timing_repeat)}
        text = (f"\ntiming 300000x768 k=50 minibatch/cosine: normalize + fit median "
                f"{timing['pairpick']['fit_median_s']:.2f} s {timing['pairpick']['fit_s']}, "
                f"ARI {timing['pairpick']['ari']:.3f}, "
                f"pairs in {100 * timing['pairpick']['pair_share']:.2f}%")
        if args.baseline:
            timing["baseline"] = pairpick(args.baseline, path, "minibatch", "cosine", 50, 42,
                                          args.timing_repeat)
            ratio = timing["pairpick"]["fit_median_s"] / timing["baseline"]["fit_median_s"]
            timing["ratio"] = ratio
            text += (f"; old {timing['baseline']['fit_median_s']:.2f} s "
                     f"{timing['baseline']['fit_s']}, ARI {timing['baseline']['ari']:.3f}, "
                     f"ratio {ratio:.2f}")
            targets.append(("timing: fit at most 1.5x the baseline's", ratio <= 1.5))
        print(text)
        summary["timing"] = timing

    print()
    for name, passed in targets:
        print(f"{'PASS' if passed else 'MISS'} {name}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"runs": runs, "summary": summary,
                       "targets": [{"name": n, "pass": bool(p)} for n, p in targets]}, out,
                      indent=1)


if __name__ == "__main__":
    main()
