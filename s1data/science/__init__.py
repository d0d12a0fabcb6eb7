"""Science recall: taxonomy, silver labels (rules, lexicons, SMILES, formulas, optional LLM), a hashed-n-gram
classifier, an optional labelled seed set (`ScienceConfig.seed_path`), table labelling, the per-partition API
(`science_sample` -> `fit_science_model` -> `science_columns`) and the ScienceFilter block."""

from s1data.science.classifier import ClassifierConfig, ScienceClassifier, hashed_features
from s1data.science.filter import ScienceFilter
from s1data.science.label import (ScienceConfig, label_science, science_metrics, silver_labels,
                                  train_science_classifier)
from s1data.science.partition import fit_science_model, science_columns, science_sample, silver_scores
from s1data.science.seed import SeedSetError, load_seed_set, seed_set_sha256
from s1data.science.silver import (LlmLabelConfig, LlmLabelError, SilverLabelConfig, find_chemical_formulas,
                                   find_smiles, llm_label, rule_label, silver_label)
from s1data.science.taxonomy import DOMAINS, LABELS, LEXICONS, TAXONOMY

__all__ = ["DOMAINS", "LABELS", "LEXICONS", "TAXONOMY", "ClassifierConfig", "LlmLabelConfig", "LlmLabelError",
           "ScienceClassifier", "ScienceConfig", "ScienceFilter", "SeedSetError", "SilverLabelConfig",
           "find_chemical_formulas", "find_smiles", "fit_science_model", "hashed_features", "label_science",
           "llm_label", "load_seed_set", "rule_label", "science_columns", "science_metrics", "science_sample",
           "seed_set_sha256", "silver_label", "silver_labels", "silver_scores", "train_science_classifier"]
