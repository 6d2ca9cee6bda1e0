"""Benchmarks that print numbers: step time, loop overhead, data pipeline.

They time the code that trains (the `Pretrainer`'s compiled loops, the Beam
pipeline), built from the same configs, as the Model Garden keeps its own
under `official/benchmark/`.
"""
