"""Token dropping for KerasHub's BERT on Keras 3 (JAX, TensorFlow).

`TokenDropBertBackbone` is `keras_hub.models.BertBackbone` with the drop
window; `TokenDropBertMaskedLM` pretrains it with `fit`, updating the
importance table in the training step. Keras 3 only (`keras.ops`): this
package imports without TensorFlow on the JAX backend. Reading this project's
TFRecords (`official_td.keras_hub.train`) uses `tf.data`.
"""

from official_td.keras_hub.backbone import TokenDropBertBackbone
from official_td.keras_hub.masked_lm import TokenDropBertMaskedLM
from official_td.keras_hub.preprocessing import TokenDropBertMaskedLMPreprocessor
from official_td.keras_hub.preprocessing import TokenDropBertTextClassifierPreprocessor
from official_td.keras_hub.preprocessing import TokenDropBertTokenizer
from official_td.keras_hub.token_dropping import TokenImportance
