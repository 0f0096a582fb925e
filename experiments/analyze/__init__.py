"""`transcend analyze KIND`: the paper's analyses on our shards and runs, each written as JSON and a PNG.

    games       games read back from shards (split, rating cutoff, seeded sample) as python-chess moves
    advantage   where the low-temperature gain comes from: the exact policy at T against T = 1, scored by Stockfish
    diversity   normalized entropy of the action distribution over common opening states, per cutoff
    matching    Maia-style top-1 agreement of the model's arg-max with the human move, by rating band
    plots       the three figures (matplotlib, Agg)
    cli         the command line
"""
