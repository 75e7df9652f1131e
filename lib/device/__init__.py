"""What a Raspberry Pi copies: the LiteRT interpreter wrapper, the benchmark runner, the classifier and the
log parsers. NumPy, psutil and LiteRT only (pilogs, which parses the logs on the host, also pandas): never
TensorFlow, and nothing else of lib/."""
