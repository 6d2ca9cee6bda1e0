r"""Shows pretraining examples exactly as the training input produces them.

  python -m official_td.input.show --data=runs/demo_data --num_examples=3
  python -m official_td.input.show --data=data/td_dynamic --epoch=2 \
      --format=jsonl --num_examples=100 > epoch2.jsonl

The records go through the training input's own functions
(`official_td.input.pretrain_dataloader.load_dataset`): static records as
`BertPretrainDataLoader` parses them, unmasked records (dynamic masking) with
the masks training draws for them at `--epoch` with `--seed` (the run's
`run.seed`; a record's mask is a function of seed, epoch, file and record, not
of the shuffled order training reads them in). Records are listed in file
order. For each: the tokens as strings, `masked_positions` (indices into the
sequence), the original tokens there and what the model sees there; `text`
adds a readable line with each masked token marked `[original→seen]`.
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
from typing import Dict, Iterator, List, Optional  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.configs.pretraining import DataConfig  # pylint: disable=g-import-not-at-top
from official_td.configs.pretraining import RunConfig  # pylint: disable=g-import-not-at-top
from official_td.input import pretrain_dataloader  # pylint: disable=g-import-not-at-top
from official_td.input import validate  # pylint: disable=g-import-not-at-top


def data_config(data_dir: str, split: str = 'train') -> DataConfig:
  """The `DataConfig` training would use for `data_dir` (from its summary)."""
  summary = rundir.read_data_summary(data_dir)
  data = DataConfig(
      train_data=os.path.join(data_dir, f'{split}-*'),
      vocab_file=rundir.vocab_file_of(data_dir),
      seq_length=summary['seq_length'],
      max_predictions_per_seq=summary['max_predictions_per_seq'],
      use_next_sentence_label=summary['use_next_sentence_label'])
  data, _ = pretrain_dataloader.resolve_data(data)
  return data


def examples(data_dir: str, num_examples: Optional[int] = None,
             epoch: int = 0, seed: int = RunConfig.seed,
             split: str = 'train') -> Iterator[Dict]:
  """The first `num_examples` examples of a split (None: all), as dicts.

  Keys: `input_ids` (what the model sees), `original_ids` (the tokens before
  masking), `segment_ids`, `length` (real tokens), `masked_positions`,
  `masked_ids` (original), `seen_ids` (model input there).
  """
  data = data_config(data_dir, split)
  vocab = vocab_lib.load_vocab(data.vocab_file)
  validate.match_files(data.train_data)
  dataset = pretrain_dataloader.load_dataset(
      data.train_data, data, 256, False, seed,
      masking=pretrain_dataloader.masking_config(data, vocab), epoch=epoch)
  return examples_of(dataset, num_examples)


def examples_of(dataset, num_examples: Optional[int] = None
                ) -> Iterator[Dict]:
  """The first `num_examples` rows (None: all) of a dataset of batches of
  the training input's features, as dicts (the keys of `examples`)."""
  count = 0
  for batch in dataset:
    batch = {k: v.numpy() for k, v in batch.items()}
    for row in range(len(batch['input_word_ids'])):
      if num_examples is not None and count >= num_examples:
        return
      yield _example(batch, row)
      count += 1


def _example(batch, row) -> Dict:
  weights = batch['masked_lm_weights'][row] > 0
  positions = batch['masked_lm_positions'][row][weights]
  labels = batch['masked_lm_ids'][row][weights]
  ids = batch['input_word_ids'][row]
  original = ids.copy()
  original[positions] = labels
  return dict(input_ids=ids, original_ids=original,
              segment_ids=batch['input_type_ids'][row],
              length=int(batch['input_mask'][row].sum()),
              masked_positions=positions, masked_ids=labels,
              seen_ids=ids[positions])


def as_text(example: Dict, vocab: List[str]) -> str:
  """A readable line: masked tokens as `[original→seen]`, no padding."""
  marked = dict(zip(example['masked_positions'].tolist(),
                    zip(example['masked_ids'], example['seen_ids'])))
  words = []
  for i in range(example['length']):
    token = vocab[example['original_ids'][i]]
    if i in marked:
      label, seen = marked[i]
      token = f'[{vocab[label]}→{vocab[seen]}]'
    words.append(token)
  return ' '.join(words)


def as_json(example: Dict, vocab: List[str]) -> Dict:
  n = example['length']
  return dict(
      tokens=[vocab[i] for i in example['input_ids'][:n]],
      segment_ids=example['segment_ids'][:n].tolist(),
      masked_positions=example['masked_positions'].tolist(),
      original_tokens=[vocab[i] for i in example['masked_ids']],
      seen_tokens=[vocab[i] for i in example['seen_ids']])


def define_flags():
  flags.DEFINE_string('data', None, 'A directory written by '
                      'create_pretraining_data.')
  flags.DEFINE_integer('num_examples', 5, 'Examples to show.')
  flags.DEFINE_integer('epoch', 0, 'Dynamic masking: the epoch whose masks '
                       'to draw (static masks are fixed).')
  flags.DEFINE_integer('seed', RunConfig.seed, 'Dynamic masking: the run\'s '
                       'run.seed.')
  flags.DEFINE_enum('split', 'train', ['train', 'eval'], 'Which records.')
  flags.DEFINE_enum('format', 'text', ['text', 'jsonl'], 'Output format.')
  flags.mark_flag_as_required('data')


def main(argv):
  del argv
  flags_ = flags.FLAGS
  data = data_config(flags_.data, flags_.split)
  vocab = vocab_lib.load_vocab(data.vocab_file)
  for i, example in enumerate(examples(flags_.data, flags_.num_examples,
                                       flags_.epoch, flags_.seed,
                                       flags_.split)):
    record = as_json(example, vocab)
    if flags_.format == 'jsonl':
      print(json.dumps(dict(index=i, **record), ensure_ascii=False))
      continue
    print(f'--- example {i} ({data.masking} masking'
          f'{f", epoch {flags_.epoch}" if data.masking == "dynamic" else ""})')
    print('tokens:', ' '.join(record['tokens']))
    print('masked_positions:', record['masked_positions'])
    print('original:', ' '.join(record['original_tokens']))
    print('text:', as_text(example, vocab))


def run():
  """The console entry point (see pyproject.toml)."""
  define_flags()
  app.run(cli.main_with_clean_errors(main))


if __name__ == '__main__':
  run()
