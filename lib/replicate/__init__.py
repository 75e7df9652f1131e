"""Training-seed replicates: the networks of a rigorous run re-trained with more seeds on the same splits
(:mod:`lib.replicate.seeds`, notebook 06b) and what notebook 08 makes of them (:mod:`lib.replicate.stability`)."""
