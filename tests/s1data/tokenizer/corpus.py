"""A small mixed corpus for tokenizer and shard tests: prose, RDKit's NCI molecules, proteins, DNA."""

from __future__ import annotations

import random
from pathlib import Path

PROSE = [
    "The results were consistent with the hypothesis that temperature controls the reaction rate.",
    "We measured the absorbance at 280 nm and normalised it to the control sample.",
    "In 1905, Einstein published four papers that changed physics; one explained Brownian motion.",
    "CO and NO are small gases, NaN is not a number, and I think the Cosmic Microwave Background is old.",
    "Table 2 lists the yields (in %) for each catalyst; see Fig. 3 for the kinetics.",
    "The FBI, NASA and the SOS signal appear in many texts, as do H2O, CO2 and pH 7.4.",
    "Unbalanced rings like C1CC or c1cccc must not be mistaken for molecules.",
    "Café, naïve, Zürich — unicode and emoji 🧪 are part of ordinary text.",
    "def f(x):\n    return x ** 2  # code is text too\n",
    "Whitespace\tmatters:  two spaces, a tab,\nand a newline.",
]
PROTEINS = [
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
    "MSKGEELFTGVVPILVELDGDVNGHKFSVSGEGEGDATYGKLTLKFICTTGKLPVPWPTLVTTFSYGVQCFSRYPDHMKQ",
    "FVNQHLCGSHLVEALYLVCGERGFFYTPKTGIVEQCCTSICSLYQLENYCN",
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ",
]


def nci_smiles(n: int) -> list[str]:
    """The first n SMILES of RDKit's bundled NCI file."""
    from rdkit import RDConfig

    lines = (Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi").read_text().splitlines()
    return [line.split()[0] for line in lines[:n] if line.strip()]


def dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def mixed_corpus(n_molecules: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = list(PROSE) * 3
    for i, smi in enumerate(nci_smiles(n_molecules)):
        prose = PROSE[i % len(PROSE)]
        texts.append(f"Compound {i} <SMILES>{smi}</SMILES> was screened. {prose}" if i % 2 else
                     f"{prose} The structure {smi} was screened at 10 uM.")
    for i, p in enumerate(PROTEINS * 5):
        texts.append(f">sp|P{i:05d}| protein\n{p}\nbinds the promoter {dna(rng, 40)}.")
    return texts
