"""The budgeted time-to-quality study behind `official_td.study`.

`plan` (arms, budgets, steps from measured step-time ratios), `runner` (the
step-time benchmark and every pretraining / fine-tuning run as a resumable
subprocess), `events` (curves read from TensorBoard event files), `report`
(the table and the break-even budget) and `plots`. None of them defines
flags: the notebook imports them to draw a curve.
"""
