"""A small sweep over BINGO's faithful settings: which (p, probe, metric, tickets) prunes the most at the floor?

A sweep over the classic scorer (bingo_kit.bingo.BingoScorer: ids bingo_classic / bingo_paper). Every
setting trains the same network from the same initial weights (BINGO never changes the training itself),
scores with the prose rule, and prunes one-shot by score to the floor (dense accuracy - the race's
DEFAULT_DROP, 0.07; on the test set, as this sweep always did: see benchmarks/race.py for the validation floor).
One-shot magnitude and random pruning of the same trained network are printed for reference.

    python benchmarks/bingo_sweep.py [--dataset digits|fashion-mnist] [--train-limit N] [--epochs E]
"""
import argparse
import itertools

import torch

from bingo_kit.bingo import train_with_bingo
from bingo_kit.data import load_dataset
from bingo_kit.methods import get_method
from bingo_kit.models import make_mlp
from bingo_kit.pruning import prune_to_floor
from bingo_kit.race import DEFAULT_DROP, copy_model, default_hidden
from bingo_kit.training import one_thread, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--p", default="0.05,0.1,0.2,0.5")
    parser.add_argument("--tickets", default="1,4")
    parser.add_argument("--rules", default="prose")
    args = parser.parse_args()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-time import cost out of the timings
    data = load_dataset(args.dataset, train_limit=args.train_limit)
    sizes = (data.n_features, *default_hidden(data), data.n_classes)
    print(f"{data.name} {'-'.join(map(str, sizes))}, {len(data.y_train)} training samples, {args.epochs} epochs")
    results: dict[str, list[float]] = {}
    with one_thread():
        for seed in range(args.seeds):
            dense = make_mlp(sizes, seed=seed)
            history = train(dense, data, epochs=args.epochs, seed=seed, progress=False)
            floor = history.final_accuracy - DEFAULT_DROP
            print(f"seed {seed}: dense {history.final_accuracy:.3f} ({history.seconds:.1f} s), floor {floor:.3f}")
            for method in ("magnitude", "random"):
                model = copy_model(dense, sizes, seed)
                fraction = prune_to_floor(model, data, floor, method, seed=seed).fraction
                results.setdefault(method, []).append(fraction)
                print(f"  {method:<44} pruned {fraction:6.1%}")
            grid = itertools.product(
                args.rules.split(","), map(float, args.p.split(",")), ("batch", "fixed"), ("accuracy", "loss"),
                map(int, args.tickets.split(",")),
            )
            for rule, p, probe, metric, tickets in grid:
                model = make_mlp(sizes, seed=seed)
                h, scores = train_with_bingo(model, data, epochs=args.epochs, seed=seed, progress=False, rule=rule,
                                             p=p, probe=probe, metric=metric, tickets=tickets)
                method = get_method(rule).id  # the registry names the method each rule is
                found = prune_to_floor(model, data, floor, method, scores=scores, seed=seed)
                label = f"{rule} p={p} probe={probe} metric={metric} tickets={tickets}"
                results.setdefault(label, []).append(found.fraction)
                print(f"  {label:<44} pruned {found.fraction:6.1%}  time x{h.seconds / history.seconds:.2f}",
                      flush=True)

    print(f"\nsummary over {args.seeds} seed(s), best first: mean % pruned at the floor (min-max)")
    for label, fractions in sorted(results.items(), key=lambda kv: -sum(kv[1]) / len(kv[1])):
        mean = sum(fractions) / len(fractions)
        print(f"  {label:<44} {mean:6.1%}  ({min(fractions):.1%}-{max(fractions):.1%})")


if __name__ == "__main__":
    main()
