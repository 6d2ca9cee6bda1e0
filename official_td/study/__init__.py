"""The budgeted time-to-quality study behind `official_td.study`.

`plan` (arms, budgets, steps from measured step-time ratios), `runner` (the
step-time benchmark and every pretraining / fine-tuning run as a resumable
subprocess), `events` (curves read from TensorBoard event files), `report`
(the table and the break-even budget) and `plots`; `preregistration` (a
plan, fixed before the runs), `choice` (its rule, applied by the report) and
`freeze` (a plan's code, held to its commit); `unigram` and `overlap` (what
a corpus's held-out text gives away: its unigram cross-entropy, its n-grams
found in training). None of them defines flags on import: the notebook
imports them to draw a curve.
"""
