"""The model-shape flags of the step-time benchmarks (BERT-base and the
paper's S = 512, k = 256 by default), defined once for the Model Garden
benchmark (`step_time`) and the Keras 3 one (`keras_step_time`). No
TensorFlow: the Keras 3 benchmark runs without it on JAX.
"""

from absl import flags

from official_td.configs.encoder_config import EncoderConfig

FLAGS = flags.FLAGS

flags.DEFINE_integer('num_layers', 12, 'Transformer layers.')
flags.DEFINE_integer('hidden_size', 768, 'Hidden size.')
flags.DEFINE_integer('num_attention_heads', 12, 'Attention heads.')
flags.DEFINE_integer('inner_dim', 3072, 'FFN inner size.')
flags.DEFINE_integer('vocab_size', 30522, 'Vocabulary size.')
flags.DEFINE_integer('seq_length', 512, 'Sequence length S.')
flags.DEFINE_integer('keep_k', 256, 'Tokens kept in the drop window.')
flags.DEFINE_integer('drop_start_layer', None, 'Window start (default L/2-1).')
flags.DEFINE_integer('drop_end_layer', None, 'Window end (default L-1).')
flags.DEFINE_integer('max_predictions', 76, 'MLM predictions per sequence.')
flags.DEFINE_float('dropout', 0.1, 'Output and attention dropout (BERT: 0.1).')
flags.DEFINE_integer('batch_size', 4, 'Sequences per step (global).')


def encoder_config() -> EncoderConfig:
  """The token-drop encoder of the flags' shape."""
  return EncoderConfig(
      vocab_size=FLAGS.vocab_size, hidden_size=FLAGS.hidden_size,
      num_layers=FLAGS.num_layers,
      num_attention_heads=FLAGS.num_attention_heads, inner_dim=FLAGS.inner_dim,
      max_sequence_length=FLAGS.seq_length, dropout=FLAGS.dropout,
      keep_k=FLAGS.keep_k, keep_ratio=None,
      drop_start_layer=FLAGS.drop_start_layer,
      drop_end_layer=FLAGS.drop_end_layer)
