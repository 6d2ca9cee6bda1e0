"""The Apache Beam plumbing of the data pipeline: transforms, the TFRecord sink, runners."""
