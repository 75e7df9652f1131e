"""What a Raspberry Pi copies: the LiteRT interpreter wrapper, the benchmark runner, the classifier and the
log parsers. NumPy and LiteRT only: never TensorFlow, and nothing else of lib/."""
