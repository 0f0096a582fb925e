"""Everything that composes the parts: the `transcend` CLI, synthetic experts (synth/), the demo, the
report (report/) and the benchmarks (bench/). Nothing imports this package.
"""
