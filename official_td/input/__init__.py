"""The training-time input: reading pretraining records, dynamic masking, validation and `show`."""
