"""bingo-kit: train a tiny network, watch BINGO score its weights, prune it, flash it to an Arduino."""

__version__ = "0.1.0"
