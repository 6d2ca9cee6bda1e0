"""Training tasks: the masked-LM pretraining step with token dropping."""
