"""Checkpoint interop: Hugging Face export verified by KerasHub's own
converter, and pretraining started from Hugging Face, Model Garden and
project checkpoints (resumes never re-initialize); bad inputs end cleanly."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
import tf_keras

from official.nlp.modeling import networks
from official_td.configs import encoders
from official_td.interop import bert_config
from official_td.interop import hf_checkpoint
from official_td.interop import huggingface
from official_td.tasks import classification
from tests import entry_points
from tests import pretrain_utils as pu
from tests import checkpoint_utils
from tests.checkpoint_utils import write_google_bert_directory

# KerasHub (Keras 3) in its own process: it loads the Hugging Face directory
# with its own converter, offline, and prints the sequence output.
KERAS_HUB = r'''
import json, os, sys
os.environ['KERAS_BACKEND'] = 'tensorflow'
import numpy as np
import keras_hub
backbone = keras_hub.models.BertBackbone.from_preset(sys.argv[1])
ids, mask, segments = np.load(sys.argv[2])
out = backbone({'token_ids': ids, 'padding_mask': mask,
                'segment_ids': segments})
np.save(sys.argv[3], np.stack([np.asarray(out['sequence_output'])]))
np.save(sys.argv[4], np.asarray(out['pooled_output']))
'''


def gelu_tanh(x):
  return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def layer_norm(x, gamma, beta, eps=1e-12):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean)**2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * gamma + beta


def checkpoint_tensors(path, prefix):
  """The weights under `prefix` (optimizer slots aside)."""
  reader = tf.train.load_checkpoint(path)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith(prefix) and 'OPTIMIZER_SLOT' not in k}


def step_zero_tensors(model_dir):
  """The weights of a run's `ckpt-0` (encoder and MLM head) under Hugging
  Face's names, read back through a plain `BertEncoderV2` + pretrainer."""
  encoder, _ = classification.load_pretrained_encoder(model_dir)
  pretrainer = encoders.build_pretrainer(encoder)
  pretrainer(dict(input_word_ids=tf.zeros((1, 8), tf.int32),
                  input_mask=tf.ones((1, 8), tf.int32),
                  input_type_ids=tf.zeros((1, 8), tf.int32),
                  masked_lm_positions=tf.zeros((1, 1), tf.int32)))
  tf.train.Checkpoint(model=pretrainer).read(
      os.path.join(model_dir, 'ckpt-0')).expect_partial()
  return huggingface.tensors_of(encoder, masked_lm=pretrainer.masked_lm)


def hugging_face_names(google):
  """google-research/bert's tensors under Hugging Face's names and layouts
  (`[out, in]` kernels), the mapping written out independently of
  official_td's."""
  out = {}
  for name, value in google.items():
    if name.startswith('cls/seq_relationship'):
      continue  # next-sentence prediction: not part of the model.
    if name == 'cls/predictions/output_bias':
      out['cls.predictions.bias'] = value
      continue
    hf = re.sub(r'layer_(\d+)', r'layer.\1', name).replace('/', '.')
    if hf.endswith('_embeddings'):
      hf += '.weight'
    elif hf.endswith('.kernel'):
      hf, value = hf[:-len('kernel')] + 'weight', value.T
    hf = hf.replace('.gamma', '.weight').replace('.beta', '.bias')
    out[hf] = value
  return out


class InteropTest(pu.TinyDataTestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.source = os.path.join(cls.root, 'source')
    pu.run_train(cls.source, cls.bindings + ['run.train_steps = 30',
                                             'run.eval_interval = 30'])
    cls.source_results = json.load(open(os.path.join(cls.source,
                                                     'results.json')))
    cls.hf_dir = os.path.join(cls.root, 'hf')
    cls.export_proc = cls.export(cls.source, cls.hf_dir)

  @classmethod
  def export(cls, model_dir, export_dir):
    return entry_points.run(
        [sys.executable, '-m', 'official_td.export', '--format=huggingface',
         f'--model_dir={model_dir}', f'--export_dir={export_dir}'],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=300)

  def batch(self, vocab_size):
    """Two sequences: padding in the second, two segments in both."""
    rng = np.random.default_rng(4)
    ids = rng.integers(5, vocab_size, (2, 32)).astype(np.int32)
    mask = np.ones((2, 32), np.int32)
    mask[1, 20:] = 0
    ids[1, 20:] = 0
    segments = np.zeros((2, 32), np.int32)
    segments[:, 12:] = 1
    return ids, mask, segments

  def keras_hub_outputs(self, hf_dir, ids, mask, segments):
    paths = [os.path.join(self.root, f'{n}{time.time_ns()}.npy')
             for n in ('in', 'seq', 'pooled')]
    np.save(paths[0], np.stack([ids, mask, segments]))
    proc = entry_points.run([sys.executable, '-c', KERAS_HUB, hf_dir] + paths,
                          cwd=pu.REPO, env=pu.env(), capture_output=True,
                          text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    return np.load(paths[1])[0], np.load(paths[2])

  # ------------------------------------------------------------ export
  def test_keras_hub_loads_the_export_and_matches_the_encoder(self):
    self.assertEqual(self.export_proc.returncode, 0,
                     self.export_proc.stderr[-3000:])
    encoder, run = classification.load_pretrained_encoder(self.source)
    ids, mask, segments = self.batch(run.encoder_kwargs['vocab_size'])
    ours = encoder(dict(input_word_ids=ids, input_mask=mask,
                        input_type_ids=segments), training=False)
    theirs, pooled = self.keras_hub_outputs(self.hf_dir, ids, mask, segments)
    real = mask.astype(bool)
    self.assertAllClose(theirs[real], ours['sequence_output'].numpy()[real],
                        atol=1e-4, rtol=0)
    # The pooler too (dense + tanh on [CLS]): a transposed kernel fails here.
    self.assertAllClose(pooled, ours['pooled_output'].numpy(), atol=1e-4,
                        rtol=0)

  def test_mlm_head_tensors_give_our_logits(self):
    # KerasHub does not convert a Hugging Face MLM head, so the head is
    # checked against numpy: BertForMaskedLM's head (dense, gelu_new, layer
    # norm, the tied decoder, bias) on the exported tensors.
    tensors = hf_checkpoint.read_tensors(self.hf_dir)
    encoder, run = classification.load_pretrained_encoder(self.source)
    pretrainer = encoders.build_pretrainer(encoder)
    ids, mask, segments = self.batch(run.encoder_kwargs['vocab_size'])
    positions = np.array([[1, 5, 13], [2, 14, 19]], np.int32)
    inputs = dict(input_word_ids=ids, input_mask=mask,
                  input_type_ids=segments, masked_lm_positions=positions)
    pretrainer(inputs)
    tf.train.Checkpoint(model=pretrainer).read(run.checkpoint).expect_partial()
    outputs = pretrainer(inputs, training=False)
    hidden = np.take_along_axis(outputs['sequence_output'].numpy(),
                                positions[..., None], 1)
    x = hidden @ tensors['cls.predictions.transform.dense.weight'].T + (
        tensors['cls.predictions.transform.dense.bias'])
    x = layer_norm(gelu_tanh(x),
                   tensors['cls.predictions.transform.LayerNorm.weight'],
                   tensors['cls.predictions.transform.LayerNorm.bias'])
    logits = x @ tensors['bert.embeddings.word_embeddings.weight'].T + (
        tensors['cls.predictions.bias'])
    self.assertAllClose(logits, outputs['mlm_logits'].numpy(), atol=1e-4,
                        rtol=0)

  def test_config_and_tokenizer_files(self):
    config = json.load(open(os.path.join(self.hf_dir, 'config.json')))
    self.assertEqual(config['model_type'], 'bert')
    self.assertEqual(config['architectures'], ['BertForMaskedLM'])
    self.assertEqual(config['hidden_act'], 'gelu_new')
    self.assertEqual(config['layer_norm_eps'], 1e-12)
    self.assertEqual((config['num_hidden_layers'], config['hidden_size']),
                     (3, 32))
    tokenizer = json.load(open(os.path.join(self.hf_dir,
                                            'tokenizer_config.json')))
    self.assertTrue(tokenizer['do_lower_case'])
    self.assertEqual(
        open(os.path.join(self.hf_dir, 'vocab.txt')).read(),
        open(os.path.join(self.data_dir, 'vocab.txt')).read())
    self.assertEqual(sorted(os.listdir(self.root)).count('hf'), 1)
    self.assertFalse([n for n in os.listdir(self.root)
                      if n.startswith('.tmp-')])

  def test_existing_export_is_never_overwritten(self):
    before = {n: open(os.path.join(self.hf_dir, n), 'rb').read()
              for n in os.listdir(self.hf_dir)}
    pu.assert_clean_error(self, self.export(self.source, self.hf_dir),
                          'already exists')
    after = {n: open(os.path.join(self.hf_dir, n), 'rb').read()
             for n in os.listdir(self.hf_dir)}
    self.assertEqual(before, after)

  def test_classifier_exports_as_sequence_classification(self):
    finetuned = os.path.join(self.root, 'finetuned')
    rows = [(pu.SENTENCES[i % 6], 'cat' if 'cat' in pu.SENTENCES[i % 6]
             else 'other') for i in range(48)]
    for name in ('train', 'eval'):
      with open(os.path.join(self.root, f'{name}.csv'), 'w') as f:
        f.write('text,label\n' + ''.join(f'{t},{l}\n' for t, l in rows))
    classification.finetune(classification.FinetuneConfig(
        pretrained_dir=self.source, model_dir=finetuned,
        train_file=os.path.join(self.root, 'train.csv'),
        eval_file=os.path.join(self.root, 'eval.csv'), seq_length=32,
        batch_size=16, epochs=1))
    hf_dir = os.path.join(self.root, 'hf_classifier')
    proc = self.export(finetuned, hf_dir)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    config = json.load(open(os.path.join(hf_dir, 'config.json')))
    self.assertEqual(config['architectures'],
                     ['BertForSequenceClassification'])
    self.assertEqual(config['id2label'], {'0': 'cat', '1': 'other'})
    # The classifier on KerasHub's pooled output gives our logits.
    settings = json.load(open(os.path.join(finetuned,
                                           'finetune_config.json')))
    encoder = networks.BertEncoderV2(**settings['encoder'])
    classifier = classification.build_classifier(encoder, 2, 0.0)
    tf.train.Checkpoint(encoder=encoder, model=classifier).read(
        tf.train.latest_checkpoint(finetuned)).expect_partial()
    ids, mask, segments = self.batch(settings['encoder']['vocab_size'])
    ours = classifier(dict(input_word_ids=ids, input_mask=mask,
                           input_type_ids=segments), training=False).numpy()
    _, pooled = self.keras_hub_outputs(hf_dir, ids, mask, segments)
    tensors = hf_checkpoint.read_tensors(hf_dir)
    logits = pooled @ tensors['classifier.weight'].T + tensors[
        'classifier.bias']
    self.assertAllClose(logits, ours, atol=1e-4, rtol=0)

  # ------------------------------------------------------------ import
  def published(self, name, seed=0, **layout):
    """A Hugging Face BERT directory in the hub's published layout
    (bert-base-uncased's, unless `layout` says otherwise: see
    `checkpoint_utils.hf_bert_tensors`) of the source run's shape, with the
    data's vocab; written without the project's exporter. Returns (the
    directory, its tensors)."""
    settings = json.load(open(os.path.join(self.source,
                                           'encoder_config.json')))
    directory = os.path.join(self.root, name)
    tensors = checkpoint_utils.write_hf_bert_directory(
        directory, settings, os.path.join(self.data_dir, 'vocab.txt'), seed,
        **layout)
    return directory, tensors

  def init_bindings(self, path, steps=30):
    return self.bindings + [f"run.init_checkpoint = '{path}'",
                            f'run.train_steps = {steps}',
                            'run.eval_interval = 0']

  def test_hf_directory_initializes_and_a_resume_never_reinitializes(self):
    # bert-base-uncased as the hub holds it: gamma/beta, the `bert.` prefix,
    # the next-sentence head, `cls.predictions.bias` and no decoder, and
    # config.json's hidden_act 'gelu'. No binding but the data's and the
    # tiny shape's (ci_tiny.gin sets no activation).
    published, tensors = self.published('bert_base_uncased_layout', 3)
    reference = os.path.join(self.root, 'from_hf')
    proc = pu.run_train(reference, self.init_bindings(published))
    self.assertIn(f'Initialized from {published}: encoder, mlm_head',
                  proc.stdout)
    # The next-sentence head is skipped and said once.
    skipped = [l for l in proc.stdout.splitlines() if 'not used:' in l]
    self.assertLen(skipped, 1, proc.stdout)
    self.assertIn('cls.seq_relationship.weight', skipped[0])
    self.assertIn('cls.seq_relationship.bias', skipped[0])
    self.assertIn("From the checkpoint: encoder.inner_activation = "
                  "'gelu_erf'", proc.stdout)
    # Step 0 holds exactly the file's tensors (read back through Hugging
    # Face's names; KerasHub verified the names and layouts above).
    expected = checkpoint_utils.as_hugging_face_names(tensors)
    got = step_zero_tensors(reference)
    self.assertEqual(sorted(got), sorted(expected))
    self.assertLen(got, 3 * 16 + 7 + 5)  # layers, embeddings + pooler, head
    self.assertLen(tensors, len(got) + 2)  # and the NSP head, not used.
    for name in expected:
      self.assertAllEqual(got[name], expected[name], msg=name)
    results = json.load(open(os.path.join(reference, 'results.json')))
    self.assertEqual((results['step'], results['init_checkpoint']),
                     (30, published))
    self.assertEqual(results['init_checkpoint_adopted'],
                     {'inner_activation': 'gelu_erf'})
    encoder_config = json.load(open(os.path.join(reference,
                                                 'encoder_config.json')))
    self.assertEqual(encoder_config['inner_activation'], 'gelu')

    # Killed after a checkpoint past step 0, the re-run resumes from its own
    # directory and ends where the uninterrupted run ended.
    killed = os.path.join(self.root, 'from_hf_killed')
    run = entry_points.Popen(
        pu.train_command(killed, self.init_bindings(published)),
        cwd=pu.REPO, env=pu.env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    step = 0
    while step < 10 and run.poll() is None and time.time() < deadline:
      path = tf.train.latest_checkpoint(killed)
      step = int(path.rsplit('-', 1)[1]) if path else 0
      time.sleep(0.01)  # polling interval, not synchronization.
    run.send_signal(signal.SIGKILL)
    run.wait()
    self.assertGreaterEqual(step, 10)
    self.assertFalse(os.path.exists(os.path.join(killed, 'results.json')))
    proc = pu.run_train(killed, self.init_bindings(published))
    self.assertNotIn('Initialized from', proc.stdout)
    results = json.load(open(os.path.join(killed, 'results.json')))
    self.assertGreaterEqual(results['resumed_from_step'], 10)
    ref = checkpoint_tensors(os.path.join(reference, 'ckpt-30'), 'encoder/')
    got = checkpoint_tensors(os.path.join(killed, 'ckpt-30'), 'encoder/')
    self.assertLen(ref, 55)  # every encoder variable.
    for key in ref:
      self.assertAllClose(ref[key], got[key], atol=1e-5, msg=key)

  def test_every_published_naming_assigns_every_tensor(self):
    """weight/bias layer norms with the decoder stored (tied) and
    `decoder.bias`; a BertModel (no prefix, no heads); three shards with an
    index; an untied decoder with only `decoder.bias`: every tensor of the
    encoder (and head) equals the file's, the rest is named as not used."""
    settings = json.load(open(os.path.join(self.source,
                                           'encoder_config.json')))
    cases = {
        'weight_bias': (dict(layer_norm=('weight', 'bias'), decoder='tied',
                             decoder_bias=True), 1,
                        ['cls.seq_relationship.weight',
                         'cls.predictions.decoder.weight',
                         'cls.predictions.decoder.bias']),
        'bert_model': (dict(prefix='', mlm_head=False, nsp_head=False), 1,
                       []),
        'sharded': ({}, 3, ['cls.seq_relationship.bias']),
        'untied': (dict(decoder='untied', output_bias=False,
                        decoder_bias=True), 1,
                   ['an untied decoder']),
    }
    for name, (layout, shards, said) in cases.items():
      directory, tensors = self.published(f'layout_{name}', 5, shards=shards,
                                          **layout)
      if shards > 1:
        self.assertFalse(os.path.exists(os.path.join(directory,
                                                     'model.safetensors')))
      self.assertTrue(hf_checkpoint.is_directory(directory), name)
      encoder = networks.BertEncoderV2(**settings)
      pretrainer = encoders.build_pretrainer(encoder)
      pretrainer(dict(input_word_ids=tf.zeros((1, 8), tf.int32),
                      input_mask=tf.ones((1, 8), tf.int32),
                      input_type_ids=tf.zeros((1, 8), tf.int32),
                      masked_lm_positions=tf.zeros((1, 1), tf.int32)))
      report = hf_checkpoint.assign(hf_checkpoint.read_tensors(directory),
                                    encoder, pretrainer.masked_lm)
      head = layout.get('mlm_head', True)
      self.assertEqual(report.mlm_head, head, name)
      got = huggingface.tensors_of(encoder,
                                   pretrainer.masked_lm if head else None)
      expected = checkpoint_utils.as_hugging_face_names(tensors)
      self.assertEqual(sorted(got), sorted(expected), name)
      self.assertLen(got, 3 * 16 + 7 + (5 if head else 0))
      self.assertEqual(report.assigned, len(got), name)
      for key in expected:
        self.assertAllEqual(got[key], expected[key], msg=f'{name}: {key}')
      for words in said:
        self.assertIn(words, report.skipped_line(), name)
    # A tensor the model needs and the file lacks: named as the file names
    # it.
    directory, tensors = self.published('layout_missing', 6)
    del tensors['bert.encoder.layer.1.output.LayerNorm.gamma']
    encoder = networks.BertEncoderV2(**settings)
    encoder(encoder.inputs)
    with self.assertRaisesRegex(
        ValueError, r'^bert\.encoder\.layer\.1\.output\.LayerNorm\.gamma is '
        'missing from the Hugging Face weights'):
      hf_checkpoint.assign(tensors, encoder)

  def test_round_trip_of_our_export_evaluates_as_the_source(self):
    # Our own Hugging Face export, imported (a round trip of this project's
    # format): evaluated before any learning (learning rate 0), it gives the
    # source run's final held-out loss.
    model_dir = os.path.join(self.root, 'frozen')
    pu.run_train(model_dir, self.init_bindings(self.hf_dir, steps=1)[:-1] + [
        'optimizer.learning_rate = 0.0', 'run.eval_interval = 1'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertAlmostEqual(results['eval_mlm_loss'],
                           self.source_results['eval_mlm_loss'], places=4)
    self.assertAlmostEqual(results['eval_mlm_accuracy'],
                           self.source_results['eval_mlm_accuracy'], places=4)

  def train_from_garden(self, name, seed, make_encoder, key):
    """A Model Garden checkpoint of `make_encoder(**the source's shape)`
    under `key`, with the data's vocab beside it, and a run started from it.

    Returns:
      (the settings, the encoder, the checkpoint prefix, the run's dir, the
      run's process).
    """
    settings = json.load(open(os.path.join(self.source,
                                           'encoder_config.json')))
    tf_keras.utils.set_random_seed(seed)
    encoder = make_encoder(**settings)
    encoder(encoder.inputs)
    garden = os.path.join(self.root, f'garden_{name}')
    os.makedirs(garden)
    prefix = tf.train.Checkpoint(**{key: encoder}).write(
        os.path.join(garden, 'bert_model.ckpt'))
    shutil.copy(os.path.join(self.data_dir, 'vocab.txt'), garden)
    model_dir = os.path.join(self.root, f'from_garden_{name}')
    proc = pu.run_train(model_dir, self.init_bindings(prefix, steps=10))
    self.assertIn('Initialized from', proc.stdout)
    return settings, encoder, prefix, model_dir, proc

  def test_model_garden_checkpoint_initializes(self):
    _, _, prefix, model_dir, proc = self.train_from_garden(
        'v2', 11, networks.BertEncoderV2, 'encoder')
    self.assertNotIn('mlm_head', proc.stdout)  # the checkpoint has none.
    expected = checkpoint_tensors(prefix, 'encoder/')
    got = checkpoint_tensors(os.path.join(model_dir, 'ckpt-0'), 'encoder/')
    self.assertLen(expected, 55)
    for key, value in expected.items():
      self.assertAllEqual(got[key], value, msg=key)

  def test_model_garden_bert_encoder_v1_checkpoint_initializes(self):
    """Google's TF2 BERT checkpoints hold the functional BertEncoder (v1)
    under `model/`: restored and copied weight by weight."""
    settings, v1, _, model_dir, _ = self.train_from_garden(
        'v1', 12, networks.BertEncoder, 'model')
    # Independently: the same weights in a BertEncoderV2 by position (the
    # two classes list their weights in the same order), saved as the
    # training checkpoint saves its encoder.
    v2 = networks.BertEncoderV2(**settings)
    v2(v2.inputs)
    self.assertEqual([w.shape for w in v2.weights],
                     [w.shape for w in v1.weights])
    for ours, theirs in zip(v2.weights, v1.weights):
      ours.assign(theirs)
    expected = checkpoint_tensors(tf.train.Checkpoint(encoder=v2).write(
        os.path.join(self.root, 'v1_as_v2')), 'encoder/')
    got = checkpoint_tensors(os.path.join(model_dir, 'ckpt-0'), 'encoder/')
    self.assertLen(expected, 55)
    for key, value in expected.items():
      self.assertAllEqual(got[key], value, msg=key)

  def google_bert_directory(self, name, seed):
    """A google-research/bert directory of the source run's shape with the
    data's vocab; (the shape, the directory, its tensors)."""
    settings = json.load(open(os.path.join(self.source,
                                           'encoder_config.json')))
    directory = os.path.join(self.root, name)
    tensors = write_google_bert_directory(
        directory, settings, os.path.join(self.data_dir, 'vocab.txt'), seed)
    return settings, directory, tensors

  def test_google_bert_checkpoint_initializes_every_tensor(self):
    """Every tensor of a google-research/bert checkpoint, encoder, pooler and
    MLM head, is in the run's step-0 checkpoint, compared through Hugging
    Face's names (a mapping KerasHub verified above)."""
    settings, directory, tensors = self.google_bert_directory('google_bert',
                                                              21)
    model_dir = os.path.join(self.root, 'from_google')
    proc = pu.run_train(model_dir, self.init_bindings(directory, steps=10))
    self.assertIn(f'Initialized from {directory}: encoder, mlm_head',
                  proc.stdout)
    expected = hugging_face_names(tensors)
    got = step_zero_tensors(model_dir)
    self.assertEqual(sorted(got), sorted(expected))
    self.assertLen(got, settings['num_layers'] * 16 + 7 + 5)
    for name in expected:
      self.assertAllEqual(got[name], expected[name], msg=name)

  def test_google_bert_config_that_disagrees_is_refused(self):
    _, directory, _ = self.google_bert_directory('google_bert_other', 22)
    config_file = os.path.join(directory, 'bert_config.json')
    config = json.load(open(config_file))
    config['num_hidden_layers'] = 2
    json.dump(config, open(config_file, 'w'))
    self.assert_refused([f"run.init_checkpoint = '{directory}'"],
                        'num_layers 2 in the config, 3 in the checkpoint')
    os.remove(config_file)
    self.assert_refused([f"run.init_checkpoint = '{directory}'"],
                        'put the bert_config.json released with it beside')

  def test_hf_activation_is_taken_from_the_checkpoint_or_refused(self):
    gelu, _ = self.published('gelu_bert', 8)
    self.assert_refused(
        [f"run.init_checkpoint = '{gelu}'",
         "encoder.inner_activation = 'relu'"],
        "inner_activation 'gelu_erf' there (its config.json has "
        "hidden_act='gelu'), 'relu' here (encoder.inner_activation is set)")
    relu, _ = self.published('relu_bert', 9, config=dict(hidden_act='relu'))
    model_dir = os.path.join(self.root, 'from_relu')
    proc = pu.run_train(model_dir, self.init_bindings(relu, steps=2))
    self.assertIn("From the checkpoint: encoder.inner_activation = 'relu'",
                  proc.stdout)
    settings = json.load(open(os.path.join(model_dir, 'encoder_config.json')))
    self.assertEqual(settings['inner_activation'], 'relu')
    encoder, _ = classification.load_pretrained_encoder(model_dir)
    block = encoder.transformer_layers[0]
    self.assertEqual(block._inner_activation, 'relu')
    # The MLM head's transform uses it too, as BertForMaskedLM's does.
    pretrainer = encoders.build_pretrainer(encoder, 'relu')
    self.assertIs(pretrainer.masked_lm.activation,
                  tf_keras.activations.relu)
    # And its export says so.
    exported = os.path.join(self.root, 'relu_export')
    self.assertEqual(self.export(model_dir, exported).returncode, 0)
    self.assertEqual(json.load(open(os.path.join(
        exported, 'config.json')))['hidden_act'], 'relu')

  def test_bert_configs_map_to_the_encoder_or_name_the_field(self):
    base = dict(vocab_size=50, hidden_size=32, num_hidden_layers=3,
                num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=64, type_vocab_size=2)
    hf, google = bert_config.HUGGING_FACE, bert_config.GOOGLE
    for dialect, act, expected in (
        (hf, 'gelu', 'gelu_erf'), (hf, 'gelu_new', 'gelu_tanh'),
        (hf, 'gelu_pytorch_tanh', 'gelu_tanh'), (hf, 'relu', 'relu'),
        # google-research/bert's `gelu` is the tanh form.
        (google, 'gelu', 'gelu_tanh'), (google, 'gelu_new', 'gelu_tanh'),
        (google, 'relu', 'relu')):
      settings = bert_config.encoder_settings(dict(base, hidden_act=act),
                                              'c.json', dialect)
      self.assertEqual(settings.inner_activation, expected, (dialect, act))
      self.assertEqual(settings.shape, dict(
          vocab_size=50, hidden_size=32, num_layers=3, num_attention_heads=2,
          inner_dim=64, max_sequence_length=64, type_vocab_size=2))
    for field, value in (('hidden_act', 'swish'), ('layer_norm_eps', 1e-5),
                         ('position_embedding_type', 'relative_key'),
                         ('embedding_size', 16)):
      with self.assertRaisesRegex(ValueError,
                                  f"'c.json' has {field}={value!r}"):
        bert_config.encoder_settings(dict(base, **{field: value}), 'c.json',
                                     hf)
    # The activations this encoder has, back to Hugging Face's words.
    for ours, theirs in bert_config.HF_HIDDEN_ACT.items():
      self.assertEqual(bert_config.encoder_settings(
          dict(base, hidden_act=theirs), 'c.json', hf).inner_activation, ours)

  def test_a_checkpoint_of_the_other_casing_is_refused(self):
    cased, _ = self.published('cased_claim', 10,
                              tokenizer_config=dict(do_lower_case=False))
    self.assert_refused(
        [f"run.init_checkpoint = '{cased}'"],
        f"run.init_checkpoint='{cased}' was trained on cased text (its "
        'tokenizer_config.json has do_lower_case=false), but the data was '
        'made lower-cased (--lower_case): recreate the data with '
        'create_pretraining_data --nolower_case')

  # -------------------------------------------------------- bad inputs
  def assert_refused(self, bindings, message):
    model_dir = os.path.join(self.root, f'refused{time.time_ns()}')
    proc = pu.run_train(model_dir, self.bindings + bindings, check=False)
    pu.assert_clean_error(self, proc, message)
    self.assertFalse(tf.io.gfile.glob(os.path.join(model_dir, 'ckpt-*')))

  def test_shape_mismatches_name_both_shapes(self):
    published, _ = self.published('shape_bert', 11)
    init = [f"run.init_checkpoint = '{published}'"]
    self.assert_refused(init + ['encoder.num_layers = 2'],
                        'num_layers 3 there, 2 here (encoder.num_layers is '
                        'set)')
    self.assert_refused(init + ['encoder.hidden_size = 16'],
                        'hidden_size 32 there, 16 here')
    wider = os.path.join(self.root, 'wider_vocab')
    shutil.copytree(published, wider)
    config = json.load(open(os.path.join(wider, 'config.json')))
    size = config['vocab_size']
    config['vocab_size'] = size + 10
    json.dump(config, open(os.path.join(wider, 'config.json'), 'w'))
    self.assert_refused([f"run.init_checkpoint = '{wider}'"],
                        f'vocab_size {size + 10} there, {size} here')

  def test_vocab_with_other_special_ids_is_refused(self):
    swapped, _ = self.published('swapped_vocab', 12)
    vocab = open(os.path.join(swapped, 'vocab.txt')).read().split('\n')
    cls, sep = vocab.index('[CLS]'), vocab.index('[SEP]')
    vocab[cls], vocab[sep] = '[SEP]', '[CLS]'
    open(os.path.join(swapped, 'vocab.txt'), 'w').write('\n'.join(vocab))
    self.assert_refused([f"run.init_checkpoint = '{swapped}'"],
                        f'CLS is id {sep} there, {cls} here')

  def test_a_directory_of_neither_format_is_refused(self):
    other = os.path.join(self.root, 'neither')
    os.makedirs(other, exist_ok=True)
    open(os.path.join(other, 'weights.bin'), 'wb').write(b'\0' * 16)
    self.assert_refused([f"run.init_checkpoint = '{other}'"],
                        'is neither a Hugging Face BERT directory')
