"""SYNTHETIC paragraphs for tests and benchmarks ONLY — not training data for a real model, not an evaluation set.

`synthetic_corpus(n, science_share, seed)` returns (texts, planted labels): science paragraphs are templated
sentences around 2–8 terms of one sub-domain's lexicon plus domain words that are NOT in the lexicon (so a
classifier can learn more than the rules know), sometimes a SMILES string or LaTeX; non-science paragraphs are
templated everyday topics with an occasional science-sounding distractor word. Planted labels are `"none"` or
`"domain/subdomain"`. Because the science text is built from the same lexicons the silver labeller matches,
precision/recall measured on it show agreement with the rules, not real-world accuracy.
"""

from __future__ import annotations

import random

from s1data.science.taxonomy import LEXICONS

_EXTRA = {  # domain words deliberately absent from LEXICONS
    "math": ["axiom", "scalar", "mapping", "conjecture", "denote", "arbitrary", "finite", "infinite", "sequence"],
    "physics": ["particle", "wave", "frequency", "amplitude", "measurement", "experiment", "detector", "joule"],
    "chemistry": ["compound", "molecule", "solvent", "reaction", "precipitate", "concentration", "laboratory"],
    "life_science": ["organism", "tissue", "protein", "biological", "samples", "mice", "clinical", "cells"],
    "earth_science": ["sediments", "rainfall", "basin", "drilling", "borehole", "landscape", "satellite data"],
    "materials": ["specimen", "fabricated", "annealed", "substrate", "deposited", "mechanical testing", "microscopy"],
}
_SMILES = ["CC(=O)OC1=CC=CC=C1C(=O)O", "c1ccccc1O", "CCN(CC)CC", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)CCC(=O)O",
           "C1CCCCC1", "CCOC(=O)C"]
_LATEX = [r"$\frac{a}{b} = \sum_{n=1}^{\infty} x_n$", r"$\int_0^1 f(x)\,dx$", r"$E = \hbar \omega$",
          r"$\nabla \cdot \mathbf{E} = \rho / \epsilon_0$", r"$x^2 + y^2 = r^2$"]
_SCI_TEMPLATES = [
    "In this work we study the {a} and its relation to the {b}.",
    "We show that the {a} depends strongly on the {b}, as expected from previous {x} studies.",
    "The {a} was characterised and compared with the {b} reported in the literature.",
    "Our results suggest that {a} plays a central role, while the {b} is less important than assumed.",
    "A simple model of the {a} explains the observed {b} and the {x} data.",
    "These findings on {a} and {b} open new questions for future {x} research.",
    "The role of {a} in {b} has been debated for decades by the community.",
    "Using a combination of {a} and {b}, the authors measure the effect with high precision.",
]
_TOPICS = {
    "sports": ["match", "goal", "coach", "season", "league", "fans", "stadium", "striker", "championship", "transfer"],
    "cooking": ["recipe", "oven", "butter", "garlic", "dinner", "flavour", "pasta", "kitchen", "dessert", "sauce"],
    "travel": ["hotel", "beach", "flight", "museum", "tour", "island", "booking", "passport", "luggage", "holiday"],
    "fashion": ["dress", "jacket", "collection", "designer", "runway", "shoes", "style", "trend", "boutique", "denim"],
    "politics": ["election", "party", "minister", "vote", "parliament", "campaign", "debate", "mayor", "council",
                 "coalition"],
    "shopping": ["discount", "price", "store", "order", "delivery", "cart", "coupon", "brand", "checkout", "offer"],
    "music": ["album", "concert", "guitar", "singer", "band", "festival", "lyrics", "tour", "playlist", "drummer"],
    "cars": ["engine", "dealer", "mileage", "sedan", "gearbox", "tyres", "warranty", "brakes", "dashboard", "fuel"],
}
_DISTRACTORS = ["energy", "chemistry", "brain", "galaxy", "climate", "planet", "science", "diet", "temperature"]
_LIFE_TEMPLATES = [
    "Last weekend the {a} was the main topic, and everyone had an opinion about the {b}.",
    "If you are looking for a good {a}, check the {b} first and compare a few options.",
    "We loved the {a}, although the {b} could have been better this time.",
    "Here are our five favourite tips about {a} and {b} for the coming year.",
    "The {a} will be announced next week, together with news about the {b}.",
    "My friends keep asking me about the {a}, so I wrote down what I know about the {b}.",
    "Prices for the {a} went up again, and the {b} is now harder to find.",
]


def science_paragraph(rng: random.Random, label: str, n_sentences: int = 6, n_terms: int = 6) -> str:
    d, s = label.split("/")
    terms = LEXICONS[d][s]
    words = rng.sample(terms, min(n_terms, len(terms))) + rng.sample(_EXTRA[d], 3)
    out = []
    for i in range(n_sentences):
        a, b = words[i % len(words)], rng.choice(words)
        out.append(rng.choice(_SCI_TEMPLATES).format(a=a, b=b, x=rng.choice(_EXTRA[d])))
    if s == "organic_chemistry" and rng.random() < 0.5:
        out.append(f"The product {rng.choice(_SMILES)} was isolated after workup.")
    if d in ("math", "physics") and rng.random() < 0.5:
        out.append(f"In particular {rng.choice(_LATEX)} holds in this case.")
    return " ".join(out)


def everyday_paragraph(rng: random.Random, n_sentences: int = 6) -> str:
    topic = rng.choice(sorted(_TOPICS))
    vocab = _TOPICS[topic]
    out = [rng.choice(_LIFE_TEMPLATES).format(a=rng.choice(vocab), b=rng.choice(vocab)) for _ in range(n_sentences)]
    if rng.random() < 0.3:
        out.append(f"Some say it is all about {rng.choice(_DISTRACTORS)}, but we are not so sure.")
    return " ".join(out)


def synthetic_corpus(n: int, science_share: float = 0.5, seed: int = 0,
                     hard_share: float = 0.2) -> tuple[list[str], list[str]]:
    """(texts, planted labels); `hard_share` of science paragraphs carry only 2 lexicon terms (rules may abstain)."""
    rng = random.Random(seed)
    sci_labels = [f"{d}/{s}" for d, subs in LEXICONS.items() for s in subs]
    texts, labels = [], []
    for _ in range(n):
        if rng.random() < science_share:
            lab = rng.choice(sci_labels)
            hard = rng.random() < hard_share
            texts.append(science_paragraph(rng, lab, n_sentences=rng.randint(4, 9), n_terms=2 if hard else
                                           rng.randint(4, 8)))
            labels.append(lab)
        else:
            texts.append(everyday_paragraph(rng, n_sentences=rng.randint(4, 9)))
            labels.append("none")
    return texts, labels
