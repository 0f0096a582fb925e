"""`transcend report`: did the model play better than the experts it learned from?

    cli        argparse and main (the only place that prints)
    writer     write_report: load -> summary -> plots -> markdown, written atomically
    load       run directories (through jaxformer.rundir.RunDir), metrics, ratings.json, population.json
    fits       which rating fit rated the model and its experts, and whether they are comparable
    summary    per run and temperature: rating, interval, margin, per-opponent record, verdict (summary.json)
    completeness  whether each temperature and opponent has all its planned games ("partial")
    protocols  the evaluation protocols of one step side by side: Elo and the difference from `fixed`, with intervals
    plots      the figures (rating vs temperature, margin vs size, loss curves)
    markdown   report.md
"""
