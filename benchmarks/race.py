"""The race over seeds, with each method's training overhead measured in the same run (not a timed test).

Digits 64-32-10 (30 epochs, 3 seeds) and Fashion-MNIST 784-128-64-10 (a seeded 10 000-image subset of the
training images, 5 epochs, 2 seeds). The floor is the dense network's validation accuracy - 7 points; the
validation split is 20 % of the training set (seeded); test accuracy is reported apart.

- pruned % at the floor, validation and test accuracy, CPU seconds: mean ± sd over seeds; the floor search
  scans from below one weight (at most 0.05 % of the weights) at a time, so no dip is stepped over
- overhead: CPU time (time.process_time, one torch thread) of a scored training run ÷ plain training, both
  timing training alone (no test-set pass after each epoch), paired (plain right before each method),
  repeated and interleaved; the median of the paired ratios
- gradual ends when it reaches the floor, so it has no overhead of that kind: its CPU time ÷ IMP's, and
  whether its test accuracy holds the floor (test accuracy - floor; its checks ask for floor + 1 point)
- the goals on digits: bingo_grad ≥ magnitude + 5 points at ≤ 1.1×; gradual within 5 points of IMP in ≤ 1/10
  of IMP's CPU time; BINGO (the paper's fake pass with the kit's running mean) ≥ 35 % at ≤ 1.5×

    python benchmarks/race.py [--quick] [--json FILE]

--json writes {"runs": [race JSON + "overhead": {method: ratio}, ...], "summary": {...}}.
"""
import argparse
import json
import statistics
import sys
import time

from bingo_kit.data import load_dataset, with_validation
from bingo_kit.race import ALL_RACE_METHODS, DEFAULT_VALIDATION, run_race, training_overhead

SETUPS = [
    # (dataset, hidden, epochs, train_limit, seeds)
    ("digits", (32,), 30, None, 3),
    ("fashion-mnist", (128, 64), 5, 10_000, 2),
]
SCORED = ("bingo", "bingo_classic", "bingo_paper", "bingo_grad")  # the methods that score while training


def mean_sd(values, digits: int = 1) -> str:
    values = list(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.{digits}f} ± {sd:4.{digits}f}"


def summarise(name: str, runs: list[dict]) -> dict:
    methods = [m for m in ALL_RACE_METHODS if m in runs[0]["methods"]]
    summary = {}
    print(f"\n{name}: {len(runs)} seed(s), floor = dense validation accuracy - 7 points")
    print(f"{'method':<14} {'pruned %':>13} {'val acc %':>13} {'test acc %':>13} {'CPU s':>13} {'overhead':>13}")
    for method in methods:
        entries = [run["methods"][method] for run in runs]
        column = {key: [100 * e[key] for e in entries] for key in ("pruned_fraction", "accuracy", "test_accuracy")}
        cpu = [e["cpu_seconds"] for e in entries]
        overhead = [run["overhead"][method] for run in runs if method in run.get("overhead", {})]
        summary[method] = {"pruned_percent": column["pruned_fraction"], "val_percent": column["accuracy"],
                           "test_percent": column["test_accuracy"], "cpu_seconds": cpu, "overhead": overhead}
        over = f"{mean_sd(overhead, 2)}x" if overhead else ""
        print(f"{method:<14} {mean_sd(column['pruned_fraction'])} {mean_sd(column['accuracy'])} "
              f"{mean_sd(column['test_accuracy'])} {mean_sd(cpu)} {over:>14}")
    if "gradual" in methods and "imp" in methods:
        share = [run["methods"]["gradual"]["cpu_seconds"] / run["methods"]["imp"]["cpu_seconds"] for run in runs]
        above = [100 * (run["methods"]["gradual"]["test_accuracy"] - run["floor"]) for run in runs]
        imp_above = [100 * (run["methods"]["imp"]["test_accuracy"] - run["floor"]) for run in runs]
        summary["gradual_vs_imp"] = {"cpu_share": share, "test_minus_floor_points": above,
                                     "imp_test_minus_floor_points": imp_above}
        print(f"gradual: CPU time {mean_sd(share, 3)} of IMP's; test accuracy - floor: "
              + ", ".join(f"{a:+.1f}" for a in above) + " points (IMP: " + ", ".join(f"{a:+.1f}" for a in imp_above)
              + ")")
    return summary


def goals(summary: dict) -> None:
    def mean(method, key):
        return statistics.mean(summary[method][key])

    grad_gain = mean("bingo_grad", "pruned_percent") - mean("magnitude", "pruned_percent")
    print(f"goal bingo_grad >= magnitude + 5 points: {grad_gain:+.1f} points, overhead "
          f"{mean('bingo_grad', 'overhead'):.2f}x (goal <= 1.1x)")
    gap = mean("imp", "pruned_percent") - mean("gradual", "pruned_percent")
    share = mean("gradual", "cpu_seconds") / mean("imp", "cpu_seconds")
    print(f"goal gradual within 5 points of IMP: {gap:.1f} points behind, in {share:.3f} of IMP's CPU time "
          f"(goal <= 0.1)")
    print(f"goal BINGO (kit's running mean) >= 35 %: {mean('bingo', 'pruned_percent'):.1f} %, overhead "
          f"{mean('bingo', 'overhead'):.2f}x (goal <= 1.5x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits only, one seed, one repeat")
    parser.add_argument("--json", metavar="FILE", help="write every run and the summary as JSON")
    parser.add_argument("--repeats", type=int, default=3, help="paired overhead measurements per method")
    args = parser.parse_args()
    output = {"runs": [], "summary": {}}
    setups = [(*SETUPS[0][:4], 1)] if args.quick else SETUPS
    repeats = 1 if args.quick else args.repeats
    for name, hidden, epochs, limit, seeds in setups:
        start = time.perf_counter()
        runs = []
        for seed in range(seeds):
            data = with_validation(load_dataset(name, train_limit=limit, seed=seed), DEFAULT_VALIDATION, seed)
            race = run_race(data, hidden=hidden, epochs=epochs, seed=seed, methods=ALL_RACE_METHODS, progress=False)
            entry = race.to_json()
            sizes = (data.n_features, *hidden, data.n_classes)
            entry["overhead"] = training_overhead(data, SCORED, sizes=sizes, epochs=epochs, seed=seed,
                                                  repeats=repeats, floor=race.floor)
            runs.append(entry)
            print(f"\n{race.table()}\noverhead: " + ", ".join(f"{m} {r:.2f}x" for m, r in entry["overhead"].items()),
                  flush=True)
        output["runs"] += runs
        output["summary"][name] = summarise(name, runs)
        if name == "digits":
            goals(output["summary"][name])
        print(f"({name}: {time.perf_counter() - start:.0f} s for this block)")
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(output, f, indent=2)
            f.write("\n")
        print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
