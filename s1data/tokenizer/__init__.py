"""Dynamic tokenizer (Intern-S1 style): text BPE + SMILES / protein / DNA sub-vocabularies in their own id ranges."""

from s1data.tokenizer.config import MODALITIES, TAGS, TOKENIZER_CODE_VERSION, TokenizerConfig
from s1data.tokenizer.detect import ScienceSpanDetector
from s1data.tokenizer.dynamic import DynamicTokenizer, load_tokenizer, tokenizer_fingerprint
from s1data.tokenizer.report import compression_report
from s1data.tokenizer.train import train_plain_bpe, train_tokenizer

__all__ = ["MODALITIES", "TAGS", "TOKENIZER_CODE_VERSION", "TokenizerConfig", "ScienceSpanDetector",
           "DynamicTokenizer", "load_tokenizer", "tokenizer_fingerprint", "compression_report", "train_plain_bpe",
           "train_tokenizer"]
