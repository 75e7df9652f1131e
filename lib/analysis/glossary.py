"""The study's glossary: every model name of the results (``lib.core.results.MODELS``) and the terms the summary,
the model card and the report use, defined once here for every document that needs them.

:data:`GLOSSARY` is the one table, a tuple of (term, definition) with the model names first; :func:`render_markdown`
renders it as a markdown table (the report's glossary page, ``lib/tools/book.py``) and :func:`definition` looks one
term up. The definitions repeat what ``docs/results.md``, the README, ``params/*.yaml`` and
``params/report/decisions.yaml`` state; a change there is a change here (``tests/test_glossary.py`` checks that
every model of the results contract has an entry).
"""
from __future__ import annotations

import re

GLOSSARY: tuple[tuple[str, str], ...] = (
    # ---- the models (model column of results.csv)
    ("TM", "The teacher: the authors' 1-D CNN (748,354 parameters at WDBC's 26 inputs; its size follows a run's input width), trained on every split "
           "(notebook 02). In rigorous runs with balanced class weights, BatchNorm statistics recomputed on the "
           "training rows and early stopping on the inner validation loss."),
    ("TM_pruned", "The teacher magnitude-pruned with the TensorFlow Model Optimization default schedule: constant "
                  "50% sparsity, the paper's setting (notebook 04)."),
    ("TM_pruned80", "The teacher magnitude-pruned with a polynomial-decay schedule to 80% sparsity (notebook 04)."),
    ("TM_pruned90", "The teacher magnitude-pruned with a polynomial-decay schedule to 90% sparsity (notebook 04)."),
    ("TM_PTQ", "The teacher after weight-only post-training quantization to TensorFlow Lite (notebook 05)."),
    ("TM_PTQ_INT8", "The teacher after full-integer post-training quantization: int8 weights, activations, input "
                    "and output, calibrated on training rows (notebook 05)."),
    ("TM_QAT", "The teacher after quantization-aware training, then converted to a full-integer TensorFlow Lite "
               "model (notebook 05). Rigorous runs fine-tune the trained teacher; the paper protocol trains a new "
               "model quantization-aware from scratch, as the authors did."),
    ("SM", "The distilled student: the authors' 1-D CNN (518 parameters at WDBC's 26 inputs) trained by knowledge "
           "distillation from TM (notebook 03). Rigorous runs use the Hinton loss with (alpha, T) chosen per split "
           "on the inner validation part; the paper protocol uses the authors' loss at alpha 0.1, T 10."),
    ("SM_scratch", "The same student network trained on the hard labels only, without distillation (notebook 03). "
                   "In rigorous runs it is tuned on the inner validation part over as many (learning rate x "
                   "epochs) cells as SM's alpha x T grid, from the same initial weights and batch order."),
    ("SM_paperloss", "Rigorous runs: the student distilled with the authors' KD loss at fixed (alpha, T) = (0.1, 10), "
                     "at SM's learning rate and epochs (notebook 03)."),
    ("SM_INT8", "The distilled student SM as a full-integer TensorFlow Lite model (int8 weights, activations, "
                "input and output, calibrated on training rows), stripped of names, metadata and no-op reshapes: "
                "about 2.7 kB on WDBC (2-4 kB on the other datasets), the model of the model card (notebook 05). It takes preprocessed features."),
    ("SM_DEPLOY", "Rigorous runs: SM_INT8's student with the split's fitted preprocessing inside the model as one "
                  "float affine map: raw measurements in, P(malignant) and the decision out; scored on complete "
                  "test rows only (notebook 05, lib/compress/deploy.py)."),
    ("LR", "Penalised logistic regression: a baseline of the rigorous runs, on the same splits and preprocessing, "
           "tuned on the inner validation part (notebook 03, lib/train/baselines.py)."),
    ("RF", "Random forest: a baseline of the rigorous runs, on the same splits and preprocessing, tuned on the "
           "inner validation part (notebook 03, lib/train/baselines.py)."),
    # ---- the terms
    ("KD", "Knowledge distillation: training a small student on the labels and on a larger teacher's softened "
           "outputs. Both losses of the study are alpha x hard + (1 - alpha) x soft, the hard term the "
           "cross-entropy of the labels. Hinton loss (rigorous runs): soft = T^2 x KL divergence of the softmax "
           "of the teacher's and student's logits divided by T. The authors' loss (paper protocol, SM_paperloss): "
           "the softmax is taken over sigmoid probabilities divided by T, without the T^2 factor, so the soft "
           "term barely acts."),
    ("McNemar", "McNemar's exact test: do two models, scored on the same rows, err on different rows more often one "
                "way than the other (the discordant rows b and c)."),
    ("Holm", "Holm's step-down adjustment of p-values for a family of tests, which keeps the chance of any false "
             "positive in the family at the family's level (the primary family: one-sided 2.5%, "
             "params/report/decisions.yaml)."),
    ("pc1_sign", "A rule that uses no WDBC data: malignant when the standardised first principal component of BCD, "
                 "pointed towards 'more abnormal' by its loadings, is above 0 (lib/transfer/target_only.py)."),
    ("two_means", "A rule that uses no WDBC data: 2-means clustering of BCD's first principal component, the cluster "
                  "with the larger mean called malignant (lib/transfer/target_only.py)."),
    ("alpha", "The weight of the hard-label term in the KD loss; (1 - alpha) weighs the soft term. Rigorous runs "
              "choose it per split on the inner validation part among 0.1, 0.3 and 0.5; the paper protocol "
              "fixes 0.1."),
    ("T", "The distillation temperature: the outputs are divided by T before the softmax of the soft term, "
          "which softens them. Rigorous runs choose it per split on the inner validation part among 2, 3, 5, 7 "
          "and 10; the paper protocol fixes 10."),
    ("corrected interval (Nadeau-Bengio)", "The 95% interval of a mean over resampled splits whose variance is "
                                           "inflated by (1/J + n_test/n_train), J the number of splits, to allow "
                                           "for the training rows the splits share (Nadeau & Bengio 2003). Every "
                                           "paired comparison of the summary reads this interval (the operating "
                                           "point reads Wilson intervals, the cross-dataset rule McNemar's test)."),
    ("naive interval", "The t-interval over the splits as if they were independent. They share most training "
                       "rows, so it is too narrow; the summary gives it second and summary.csv has both."),
    ("margin", "The smallest difference the verdicts treat as practical, one for accuracy and one for "
               "sensitivity (params/report/decisions.yaml, each with its rationale)."),
    ("non-inferiority", "A is not worse than B by more than the margin. Shown when the lower bound of the "
                        "corrected interval of A - B is above minus the margin (in the primary family, the one-sided "
                        "bound at the claim's Holm step, the Holm adjustment); not shown otherwise (A may be worse "
                        "by as much as the lower bound says)."),
    ("equivalence", "A and B differ by less than the margin either way. Shown when the whole corrected interval "
                    "of A - B lies within plus or minus the margin."),
    ("difference", "A and B differ at all. Detected when the corrected interval of A - B excludes 0; not detected "
                   "is not evidence of no difference."),
    ("primary", "The comparisons declared as the study's question in params/report/decisions.yaml (SM - TM, "
                "non-inferiority on accuracy and sensitivity on WDBC and BCD; its entry says when and after which "
                "results it was written), tested together with Holm's adjustment. Only these answer the question."),
    ("exploratory", "Every comparison outside the primary family: read at an unadjusted 95% interval. It suggests, "
                    "it does not answer."),
    ("descriptive", "A run whose design cannot support a verdict (PBCNT: 11 normal samples): numbers and "
                    "intervals, no answer."),
    ("fragility", "The fewest changed predictions (one model's prediction on one test row of one split) that "
                  "would flip an answer, the other splits held as they are. 1 or 2 means the data barely decide "
                  "it. With several training seeds, a changed row counts in every seed's model (it moves the seed "
                  "mean by one row). It does not count the variation between training seeds (see stability)."),
    ("training seed", "The seed that sets a network's initial weights, batch order and dropout. Rigorous runs train "
                      "TM, SM, SM_scratch, SM_paperloss and SM_INT8 with several seeds per split (notebook 06b); "
                      "a split's value is the mean over its seeds."),
    ("stability", "How a verdict holds across training seeds: computed again on each seed alone, it is firm when "
                  "at least the decided share of seeds (decisions.yaml: verdict_stability) give it and its "
                  "fragility reaches the decided number of rows; otherwise unstable. Not replicated: it rests on "
                  "one training seed."),
    ("operating point", "Per split, the threshold on P(malignant) chosen for the run's target sensitivity on "
                        "training rows only: the out-of-fold predictions of the training part, split-conformal rule "
                        "(the k-th highest cancer score, k = ceil(target (n + 1)) of n cancers), the same for every model that "
                        "has one; applied to the test rows (malignant when the score is at least the threshold). The "
                        "pruned and QAT teachers and the paper runs have none."),
    ("PPV / NPV", "Positive predictive value: of the patients the model flags, the share with cancer. Negative "
                  "predictive value: of those it clears, the share without. Both depend on the prevalence; the "
                  "report gives them at the two prevalences of params/report/decisions.yaml (a screening recall "
                  "and a diagnostic clinic)."),
    ("Platt scaling", "A two-parameter logistic map of a score to a probability, fitted on out-of-fold scores of "
                      "the training rows. Class-weighted training distorts the scores (their calibration slopes are "
                      "far from 1); the map keeps the order of the scores, so decisions at the operating point do "
                      "not change. The summary's calibration section says how close to 1 it brings them."),
    ("calibration slope / intercept", "How far scores are from probabilities on test rows: a slope below 1 means "
                                      "too extreme, above 1 too timid; an intercept above 0 means the risk is "
                                      "underestimated on average. 1 and 0 are ideal."),
    ("Pareto front", "The models not dominated in accuracy and cost. By size: a model is dominated when another is "
                     "at least as accurate and at least as small, and strictly better in one. By latency: a model "
                     "is faster only when its range of medians over repeats, widened by the spread of one "
                     "network's latencies, lies entirely below the other's; otherwise the two are tied "
                     "(lib/core/pareto.py)."),
    ("fast profile", "The runs of params/*-fast.yaml: the same pipeline with 2 folds x 1 repeat, a few epochs "
                     "and 2 x 2 grids, which make test re-executes. A smoke test: its numbers are not results."),
    ("paper protocol", "The authors' protocol reproduced faithfully (run wdbc-paper): PCA fit on all rows, one "
                       "stratified 85/15 split whose test set is also the validation set, their KD loss and "
                       "learning rates, repeated over 10 fixed seeds instead of one unseeded run."),
    ("rigorous protocol", "No leakage (imputer, scaler and PCA fit on training rows only), fixed seeds, repeated "
                          "stratified k-fold, every choice made on an inner validation part, balanced class "
                          "weights, BatchNorm statistics recomputed on the training rows, teacher early "
                          "stopping, corrected intervals and paired tests (runs wdbc, bcd, pbcnt)."),
)


def definition(term: str) -> str:
    """The definition of ``term`` (exact, else case-insensitive); KeyError when it has none."""
    table = dict(GLOSSARY)
    if term in table:
        return table[term]
    folded = {t.lower(): d for t, d in GLOSSARY}
    return folded[term.lower()]


# Each model name in a few words, for the line of names under a table (the full entry is in GLOSSARY).
SHORT = {"TM": "the teacher", "TM_pruned": "the teacher pruned to 50% (the paper's setting)",
         "TM_pruned80": "the teacher pruned to 80%", "TM_pruned90": "the teacher pruned to 90%",
         "TM_PTQ": "the teacher, weights quantized after training", "TM_PTQ_INT8": "the teacher, fully int8 after training",
         "TM_QAT": "the teacher after quantization-aware training, int8", "SM": "the student distilled from TM",
         "SM_scratch": "the same student trained without TM", "SM_paperloss": "the student distilled with the paper's loss",
         "SM_INT8": "SM as an int8 model of a few kB", "SM_DEPLOY": "SM_INT8 with the preprocessing inside (raw measurements in)",
         "LR": "logistic regression", "RF": "random forest", "KD": "knowledge distillation",
         "McNemar": "a paired test of two models' errors", "Holm": "the adjustment for many tests",
         "pc1_sign": "a BCD-only rule (its first principal component's sign)",
         "two_means": "a BCD-only rule (2-means clustering)"}


def short(term: str) -> str:
    """A model name in a few words (:data:`SHORT`)."""
    if term not in SHORT:
        raise KeyError(f"no short definition of {term!r} in lib/analysis/glossary.py SHORT")
    return SHORT[term]


def names_in(text: str) -> list[str]:
    """The model names of the glossary that ``text`` uses, in the glossary's order."""
    models = [t for t, _ in GLOSSARY if t in SHORT]
    return [t for t in models if re.search(rf"(?<![A-Za-z0-9_]){re.escape(t)}(?![A-Za-z0-9_])", text)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def in_words(text: str, neg: str, pos: str) -> str:
    """A definition in a run's own class labels: the study's 'malignant' / 'benign' and 'cancer' become the
    run's positive and negative labels (a user's table run, whose data may not be about cancer)."""
    for old, new in (("P(malignant)", f"P({pos})"), ("malignant", pos), ("benign", neg), ("cancers", f"{pos} cases"),
                     ("cancer", f"{pos} case"), ("patients", "rows")):
        text = text.replace(old, new)
    return text


def render_markdown(title: str | None = "Glossary", level: int = 1, terms=None, labels=None) -> str:
    """The glossary as markdown: an optional heading (``level`` #) and one table, term and definition, in the
    order of :data:`GLOSSARY` (models first, as written in results.csv, then the terms); ``terms``: only these;
    ``labels``: (negative, positive) of a run whose classes are not the study's (:func:`in_words`)."""
    lines = [f"{'#' * level} {title}", ""] if title else []
    lines += ["| term | definition |", "|---|---|"]
    word = (lambda t: in_words(t, *labels)) if labels else (lambda t: t)
    lines += [f"| **{_cell(term)}** | {_cell(word(text))} |" for term, text in GLOSSARY if terms is None or term in terms]
    return "\n".join(lines) + "\n"
