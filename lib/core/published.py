"""What the paper and the authors' stored outputs report (shared/reference/README.md), for side-by-side tables.

Only numbers; each with where it comes from. Accuracies are fractions.
"""
# Abstract / headline claims.
PAPER_CLAIMS = {
    "SM_TFLite accuracy": (0.9767, "abstract: SM_TFLite 97.67% (= 84/86 test rows)"),
    "SM relative loss to TM": (0.0233, "abstract: 2.33% relative loss (teacher value not found in any output)"),
    "TM accuracy (implied)": (1.0, "97.67% with a 2.33% relative loss implies a 100% teacher"),
    "cross-dataset mean accuracy": (0.7397, "abstract: 73.97%, 95% CI [65.04, 82.90] (PCA=6, 10 runs, z with n=13)"),
    "SM_TFLite size kB": (5.21, "abstract; distiller.tflite 5,340 B"),
    "SM_TFLite latency ms": (3.3, "abstract; load + tensors + prep + one un-warmed invoke on the Pi"),
    "TM_pruned size kB": (2924.31, "abstract; pruned_model.tflite"),
    "TM_pruned latency ms": (13.68, "abstract"),
    "TM_PTQ size kB": (746.59, "PTQ .tflite 764,504 B"),
    "TM_PTQ_INT8 size kB": (750.69, "PTQ_INT .tflite 768,704 B"),
}

# Final KD run of the ablation notebook (alpha .1, T 10, 20 epochs, 86 test rows).
PAPER_KD_ABLATION_FINAL = {"accuracy": 0.9535, "precision": 1.0, "sensitivity": 0.875, "f1": 0.9333,
                           "roc_auc": 0.9838}

# The authors' KD ablation: last-epoch val (= test) accuracy, rows T, columns alpha (single runs, 86 rows).
PAPER_ABLATION = {
    (0.1, 2.0): .9302, (0.3, 2.0): .9302, (0.5, 2.0): .9186,
    (0.1, 3.0): .9302, (0.3, 3.0): .9302, (0.5, 3.0): .9302,
    (0.1, 5.0): .9419, (0.3, 5.0): .9302, (0.5, 5.0): .9070,
    (0.1, 7.0): .8837, (0.3, 7.0): .9302, (0.5, 7.0): .9302,
    (0.1, 10.0): .9302, (0.3, 10.0): .9186, (0.5, 10.0): .9302,
}

# Final train / validation (= test) accuracy of the earlier-paper notebooks (reference section 11).
PAPER_FINAL_ACCURACY = {
    "wdbc": {"TM": (1.00, .94), "SM_scratch": (.80, .86), "SM": (.95, .97)},
    "bcd": {"TM": (.98, 1.00), "SM_scratch": (.96, .99), "SM": (.96, .99)},
    "pbcnt": {"TM": (1.00, .90), "SM_scratch": (.59, .55), "SM": (1.00, .95)},
}
