"""official_td: token dropping for efficient BERT pretraining (Hou et al., ACL 2022)."""

import os as _os

# tf.keras as tf_keras (Keras 2, the Keras of the Model Garden), set before
# TensorFlow is first imported: TensorFlow then skips importing Keras 3, ~1.5 s
# of every process's start-up (each Beam worker's included). official_td
# itself always imports tf_keras; where TensorFlow was imported first, this
# changes nothing.
_os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
