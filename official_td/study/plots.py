"""Plots of a study: held-out loss against time and against budget."""

import os
from typing import Dict, List, Sequence

import tensorflow as tf

from official_td.study.events import eval_curve
from official_td.study.plan import BASELINE
from official_td.study.speedup import mean_std


def plot(out: str, rows: List[Dict], arms: Sequence[str]):
  """loss_vs_time.png (every run) and loss_vs_budget.png (means ± std)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  colors = plt.get_cmap('tab10')
  fig, ax = plt.subplots(figsize=(7, 4.5))
  labelled = set()
  for r in rows:
    curve = eval_curve(os.path.join(out, 'runs', r['run'], f'seed{r["seed"]}'))
    if not curve:
      continue
    label = r['run'] if r['run'] not in labelled else None
    labelled.add(r['run'])
    index = 0 if r['arm'] == BASELINE else 1 + list(arms).index(r['arm'])
    alpha = 0.35 + 0.65 * min(r['budget'], 1.0)
    ax.plot([c[0] for c in curve], [c[2] for c in curve], marker='.',
            color=colors(index), alpha=alpha, label=label,
            linewidth=2 if r['arm'] == BASELINE else 1)
  ax.set_xlabel('train-loop seconds')
  ax.set_ylabel('held-out MLM loss (full sequences)')
  ax.set_title('Held-out loss against wall-clock, every run')
  ax.legend(fontsize=7)
  fig.tight_layout()
  _save(fig, os.path.join(out, 'loss_vs_time.png'))
  plt.close(fig)

  fig, ax = plt.subplots(figsize=(6, 4))
  base = mean_std([r['eval_mlm_loss'] for r in rows
                   if r['arm'] == BASELINE and r['budget'] == 1.0])
  ax.axhspan(base[0] - base[1], base[0] + base[1], color='grey', alpha=0.2)
  ax.axhline(base[0], color='black', linewidth=0.8,
             label='baseline at 1.0 (break-even target)')
  # Both curves: the baseline at every budget (its schedule decayed within
  # it) and each arm.
  for i, arm in enumerate([BASELINE] + list(arms)):
    budgets = sorted({r['budget'] for r in rows if r['arm'] == arm})
    stats = [mean_std([r['eval_mlm_loss'] for r in rows
                        if r['arm'] == arm and r['budget'] == b])
             for b in budgets]
    ax.errorbar(budgets, [s[0] for s in stats], yerr=[s[1] for s in stats],
                marker='o', capsize=3, color=colors(i), label=arm)
  ax.set_xlabel('budget (fraction of the baseline\'s train-loop time)')
  ax.set_ylabel('held-out MLM loss (mean ± std)')
  ax.legend()
  fig.tight_layout()
  _save(fig, os.path.join(out, 'loss_vs_budget.png'))
  plt.close(fig)


def _save(fig, path):
  with tf.io.gfile.GFile(path, 'wb') as f:
    fig.savefig(f, format='png', dpi=100)

