r"""Token dropping vs. the baseline: same data, same steps, same fine-tuning.

  python -m official_td.compare --gin_file=gin/experiments/demo.gin \
      --output_dir=runs/compare

pretrains the baseline (`encoder.token_drop = False`) and the token-drop model
one after the other (separate processes, same machine), fine-tunes both on the
same classification task (default: the embedded task of
`official_td.data.corpus.embedded_classification_task`), and writes to
--output_dir:

  comparison.md / comparison.csv   pretraining wall-clock, steps/s, eval MLM
                                   loss/accuracy on full sequences (and with
                                   dropping), fine-tuned accuracy
  loss_vs_time.png                 training MLM loss against wall-clock time
"""

import csv
import json
import os
import subprocess
import sys

from absl import app
from absl import flags
import tensorflow as tf

FLAGS = flags.FLAGS

flags.DEFINE_multi_string('gin_file', ['gin/experiments/demo.gin'],
                          'Pretraining gin files (shared by both runs).')
flags.DEFINE_multi_string('gin_bindings', [], 'Pretraining bindings (both).')
flags.DEFINE_string('output_dir', None, 'Where runs and reports go (new).')
flags.DEFINE_string('finetune_gin', 'gin/finetune/embedded_source.gin',
                    'Fine-tuning gin file.')
flags.DEFINE_multi_string('finetune_bindings', [], 'Fine-tuning bindings.')
flags.DEFINE_bool('embedded_task', True,
                  'Create the embedded classification task in OUTPUT/task and '
                  'fine-tune on it.')

VARIANTS = (('baseline', 'encoder.token_drop = False'),
            ('token_drop', 'encoder.token_drop = True'))


def _run(args):
  print('$ ' + ' '.join(args), flush=True)
  subprocess.run([sys.executable, '-m'] + args, check=True)


def loss_curve(model_dir):
  """(seconds since the first summary, step, mlm_loss) from TensorBoard."""
  points = []
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'mlm_loss':
          loss = (value.simple_value if value.HasField('simple_value') else
                  float(tf.make_ndarray(value.tensor)))
          points.append((event.wall_time, event.step, loss))
  points.sort()
  if not points:
    return []
  start = points[0][0]
  return [(t - start, s, l) for t, s, l in points]


def _read_json(path):
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def summarize(output_dir):
  """Reads both variants' results; writes the table and the plot."""
  rows, curves = [], {}
  for name, _ in VARIANTS:
    pre = _read_json(os.path.join(output_dir, name, 'results.json'))
    fine = _read_json(os.path.join(output_dir, name + '_finetune',
                                   'results.json'))
    curves[name] = loss_curve(os.path.join(output_dir, name))
    row = dict(
        model=name,
        steps=pre['step'],
        keep_k=pre['keep_k'],
        seq_length=pre['seq_length'],
        pretrain_seconds=pre['train_seconds'],
        steps_per_second=round(
            (pre['step'] - pre['resumed_from_step']) / pre['train_seconds'],
            3),
        eval_mlm_loss=round(pre['eval_mlm_loss'], 4),
        eval_mlm_accuracy=round(pre['eval_mlm_accuracy'], 4),
        eval_dropped_mlm_loss=round(pre.get('eval_dropped_mlm_loss',
                                            float('nan')), 4),
        finetune_accuracy=round(fine['eval_accuracy'], 4))
    rows.append(row)
  with tf.io.gfile.GFile(os.path.join(output_dir, 'comparison.csv'),
                         'w') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  header = '| ' + ' | '.join(rows[0]) + ' |'
  lines = [header, '|' + '---|' * len(rows[0])]
  lines += ['| ' + ' | '.join(str(v) for v in r.values()) + ' |' for r in rows]
  base, drop = rows
  lines.append('')
  lines.append(f'token_drop / baseline pretraining time: '
               f'{drop["pretrain_seconds"] / base["pretrain_seconds"]:.3f}')
  with tf.io.gfile.GFile(os.path.join(output_dir, 'comparison.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')

  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, curve in curves.items():
    if curve:
      ax.plot([c[0] for c in curve], [c[2] for c in curve], marker='.',
              label=name)
  ax.set_xlabel('wall-clock seconds')
  ax.set_ylabel('training MLM loss')
  ax.set_title('Token dropping vs. baseline')
  ax.legend()
  fig.tight_layout()
  with tf.io.gfile.GFile(os.path.join(output_dir, 'loss_vs_time.png'),
                         'wb') as f:
    fig.savefig(f, format='png', dpi=100)
  plt.close(fig)
  return rows


def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise app.UsageError('--output_dir is required.')
  out = FLAGS.output_dir
  tf.io.gfile.makedirs(out)
  finetune_bindings = list(FLAGS.finetune_bindings)
  if FLAGS.embedded_task:
    task = os.path.join(out, 'task')
    if not tf.io.gfile.exists(os.path.join(task, 'train.csv')):
      from official_td.data import corpus  # pylint: disable=g-import-not-at-top
      corpus.embedded_classification_task(task)
    finetune_bindings += [f"finetune.train_file = '{task}/train.csv'",
                          f"finetune.eval_file = '{task}/eval.csv'"]
  pretrain_flags = [f'--gin_file={g}' for g in FLAGS.gin_file]
  pretrain_flags += [f'--gin_bindings={b}' for b in FLAGS.gin_bindings]
  for name, binding in VARIANTS:
    model_dir = os.path.join(out, name)
    if not tf.io.gfile.exists(os.path.join(model_dir, 'results.json')):
      _run(['official_td.train', f'--model_dir={model_dir}',
            f'--gin_bindings={binding}'] + pretrain_flags)
    finetune_dir = model_dir + '_finetune'
    if not tf.io.gfile.exists(os.path.join(finetune_dir, 'results.json')):
      _run(['official_td.finetune', f'--gin_file={FLAGS.finetune_gin}',
            f"--gin_bindings=finetune.pretrained_dir = '{model_dir}'",
            f'--model_dir={finetune_dir}'] +
           [f'--gin_bindings={b}' for b in finetune_bindings])
  summarize(out)
  with tf.io.gfile.GFile(os.path.join(out, 'comparison.md')) as f:
    print(f.read())
  print(f'Wrote {out}/comparison.md, comparison.csv, loss_vs_time.png')


if __name__ == '__main__':
  app.run(main)
