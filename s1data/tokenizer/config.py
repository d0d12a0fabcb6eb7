"""TokenizerConfig: every knob of the dynamic tokenizer stage (doubles as the Prefect UI form)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

# Bump when training or encoding changes for given parameters: it invalidates cached tokenizer artifacts.
TOKENIZER_CODE_VERSION = "tokenizer-1"

# The scientific modalities, in id order after the text vocabulary. Tags are special tokens of the text vocabulary.
MODALITIES = ("smiles", "protein", "dna")
TAGS = {"smiles": ("<SMILES>", "</SMILES>"), "protein": ("<PROTEIN>", "</PROTEIN>"), "dna": ("<DNA>", "</DNA>")}


class TokenizerConfig(BaseModel):
    vocab_size: int = Field(
        32000, ge=300, description="Size of the text (base) byte-level BPE vocabulary, special tokens included. "
                                   "Ignored when a base tokenizer is extended (its vocabulary is kept as is).")
    min_frequency: int = Field(2, ge=1, description="A merge must occur at least this often in training text.")
    smiles_vocab_size: int = Field(
        2048, ge=256, description="Size of the SMILES sub-vocabulary (256 byte tokens + merges); ids follow the "
                                  "text vocabulary.")
    protein_vocab_size: int = Field(1024, ge=256, description="Size of the protein sub-vocabulary (256 bytes + merges).")
    dna_vocab_size: int = Field(512, ge=256, description="Size of the DNA/RNA sub-vocabulary (256 bytes + merges).")
    science_max_token_chars: int = Field(
        12, ge=2, description="Longest token (characters) a scientific sub-vocabulary may learn; keeps merges "
                              "reusable instead of memorising whole molecules.")
    eos_token: str = Field("<|endoftext|>", description="End-of-document token (added if a base tokenizer lacks it).")
    pad_token: str = Field("<|pad|>", description="Padding token used to fill the last packed row of a shard.")
    detect_smiles: bool = Field(
        True, description="Detect untagged SMILES in text (RDKit-validated). Tagged <SMILES>…</SMILES> spans are "
                          "always used.")
    min_smiles_atoms: int = Field(
        3, ge=1, description="An untagged SMILES candidate needs at least this many heavy atoms (keeps 'CO', 'I' "
                             "and 'NO' in the text path).")
    min_letters_only_smiles_chars: int = Field(
        8, ge=1, description="An untagged candidate with no structural evidence (ring digit, branch, bracket atom, "
                             "bond '=#', aromatic atom) must be at least this long, so acronyms like 'FBI' or "
                             "'CO-OP' stay text.")
    detect_sequences: bool = Field(
        True, description="Detect untagged protein / DNA sequences (FASTA-like runs of residue letters).")
    min_sequence_chars: int = Field(
        20, ge=4, description="An untagged protein or DNA run must be at least this long.")
    min_protein_distinct: int = Field(
        8, ge=1, description="An untagged protein run must use at least this many distinct residue letters.")
    max_training_texts: int | None = Field(
        200_000, ge=1, description="Train on at most this many curated documents: a deterministic sample (smallest "
                                   "sha256 of doc_id) streamed from the curated partitions, so memory is bounded by "
                                   "the sample, not the corpus (None = all documents, in one process).")
    max_training_chars: int | None = Field(
        1_000_000_000, ge=1, description="...and at most this many characters of them in all (None = no bound).")
    sample_seed: int = Field(0, description="Seed of the training sample.")

    @model_validator(mode="after")
    def _distinct_special_tokens(self) -> "TokenizerConfig":
        tags = {t for pair in TAGS.values() for t in pair}
        if self.eos_token == self.pad_token or self.eos_token in tags or self.pad_token in tags:
            raise ValueError(f"eos_token and pad_token must differ from each other and from the tags {sorted(tags)}; "
                             "pick e.g. eos_token='<|endoftext|>', pad_token='<|pad|>'.")
        return self

    def cache_params(self) -> dict:
        """The parameters that change the trained artifact."""
        return self.model_dump()
