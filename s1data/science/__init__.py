"""Science recall: taxonomy, silver labels (rules, lexicons, SMILES, formulas, optional LLM), a hashed-n-gram
classifier, table labelling and the ScienceFilter block."""

from s1data.science.classifier import ClassifierConfig, ScienceClassifier, hashed_features
from s1data.science.filter import ScienceFilter
from s1data.science.label import (ScienceConfig, label_science, science_metrics, silver_labels,
                                  train_science_classifier)
from s1data.science.silver import (LlmLabelConfig, LlmLabelError, SilverLabelConfig, find_chemical_formulas,
                                   find_smiles, llm_label, rule_label, silver_label)
from s1data.science.taxonomy import DOMAINS, LABELS, LEXICONS, TAXONOMY

__all__ = ["DOMAINS", "LABELS", "LEXICONS", "TAXONOMY", "ClassifierConfig", "LlmLabelConfig", "LlmLabelError",
           "ScienceClassifier", "ScienceConfig", "ScienceFilter", "SilverLabelConfig", "find_chemical_formulas",
           "find_smiles", "hashed_features", "label_science", "llm_label", "rule_label", "science_metrics",
           "silver_label", "silver_labels", "train_science_classifier"]
