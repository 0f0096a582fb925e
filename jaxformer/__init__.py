"""The decoder transformer: config, model and layers, sharding, the train step and loop, checkpoints,
metrics, the run-directory layout (rundir), the public decoding API (decode), and in `eval/` the model
as a chess player with its evaluation worker. Imports only the public faces of `arena` and
`data_pipeline`, and `safeio`.
"""
