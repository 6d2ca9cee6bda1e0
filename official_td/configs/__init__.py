"""Configuration dataclasses of pretraining, and their checks.

Plain dataclasses (no gin here); `official_td.configurables` registers them
with gin under the names users bind (`encoder.*`, `data.*`, `optimizer.*`,
`run.*`).
"""
