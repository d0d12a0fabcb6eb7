"""Biology families on DNA / RNA / protein sequences: each verifier is the computation itself (standard genetic code,
Needleman-Wunsch / Smith-Waterman dynamic programming, Wallace rule, average residue masses)."""

from __future__ import annotations

import random

from s1data.bootcamp.science.exact import (ExactTask, check_float, check_int, check_int_list, check_seq, check_word,
                                           sig)

BASES = "ACGT"
_COMP = str.maketrans("ACGT", "TGCA")
CODON_TABLE = {}
_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
for i, a in enumerate("TCAG"):
    for j, b in enumerate("TCAG"):
        for k, c in enumerate("TCAG"):
            CODON_TABLE[a + b + c] = _AA[16 * i + 4 * j + k]
# average residue masses (Da) of the 20 amino acids in a chain; + one water per chain
RESIDUE_MASS = {"A": 71.0788, "R": 156.1875, "N": 114.1038, "D": 115.0886, "C": 103.1388, "E": 129.1155,
                "Q": 128.1307, "G": 57.0519, "H": 137.1411, "I": 113.1594, "L": 113.1594, "K": 128.1741,
                "M": 131.1926, "F": 147.1766, "P": 97.1167, "S": 87.0782, "T": 101.1051, "W": 186.2132,
                "Y": 163.1760, "V": 99.1326}
WATER = 18.01528
AMINO = "ACDEFGHIKLMNPQRSTVWY"
ENZYMES = {"EcoRI": "GAATTC", "BamHI": "GGATCC", "HindIII": "AAGCTT", "NotI": "GCGGCCGC", "TaqI": "TCGA",
           "AluI": "AGCT", "HaeIII": "GGCC"}


def rand_dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(BASES) for _ in range(n))


def translate(dna: str, to_stop: bool = True) -> str:
    out = []
    for i in range(0, len(dna) - 2, 3):
        aa = CODON_TABLE[dna[i:i + 3]]
        if aa == "*" and to_stop:
            break
        out.append(aa)
    return "".join(out)


def coding_sequence(rng: random.Random, n_codons: int) -> str:
    """ATG + n random sense codons + a stop codon."""
    sense = [c for c, a in CODON_TABLE.items() if a != "*"]
    return "ATG" + "".join(rng.choice(sense) for _ in range(n_codons)) + rng.choice(["TAA", "TAG", "TGA"])


def _len(level: int, base: int = 8) -> int:
    return base * (2 ** (level - 1))


class BioTask(ExactTask):
    domain = "life"
    family = "biology"


class ReverseComplement(BioTask):
    """Reverse complement of a DNA strand."""

    name = "bio_reverse_complement"
    instruction = "Give the sequence 5'->3' in capital letters."

    def make(self, rng, level):
        return {"dna": rand_dna(rng, _len(level))}

    def question(self, identity):
        return f"Give the reverse complement of the DNA strand 5'-{identity['dna']}-3'."

    def expected(self, identity):
        return identity["dna"].translate(_COMP)[::-1]

    def judge(self, answer, identity):
        return check_seq(answer, self.expected(identity), BASES)


class Transcription(BioTask):
    """mRNA transcribed from a template strand (complement, T -> U, read 5'->3')."""

    name = "bio_transcription"
    instruction = "Give the mRNA 5'->3' in capital letters."

    def make(self, rng, level):
        return {"template_strand": rand_dna(rng, _len(level))}

    def question(self, identity):
        return f"The template strand of a gene is 3'-{identity['template_strand']}-5'. Give the mRNA transcribed from it."

    def expected(self, identity):
        return identity["template_strand"].translate(_COMP).replace("T", "U")

    def judge(self, answer, identity):
        return check_seq(answer, self.expected(identity), "ACGU")


class Translation(BioTask):
    """Protein translated from an mRNA starting at its first AUG, to the first stop codon (standard code)."""

    name = "bio_translation"
    instruction = "Give the protein in one-letter codes, without the stop."

    def make(self, rng, level):
        utr = rand_dna(rng, rng.randint(0, 6)).replace("ATG", "ACG")
        return {"mrna": (utr + coding_sequence(rng, 2 * level + rng.randint(0, 3)) + rand_dna(rng, 4)).replace("T", "U")}

    def question(self, identity):
        return f"Translate the mRNA 5'-{identity['mrna']}-3' from its first AUG to the stop codon."

    def expected(self, identity):
        dna = identity["mrna"].replace("U", "T")
        return translate(dna[dna.find("ATG"):])

    def judge(self, answer, identity):
        return check_seq(answer, self.expected(identity), AMINO)


class GCContent(BioTask):
    """GC content in percent."""

    name = "bio_gc_content"
    instruction = "Give the percentage (number only), to two decimals."

    def make(self, rng, level):
        return {"dna": rand_dna(rng, _len(level, 10) + rng.randint(0, 7))}

    def question(self, identity):
        return f"What is the GC content of {identity['dna']}?"

    def expected(self, identity):
        d = identity["dna"]
        return 100.0 * (d.count("G") + d.count("C")) / len(d)

    def render(self, value):
        return f"{value:.2f}"

    def judge(self, answer, identity):
        return check_float(answer.rstrip("%").replace("\\%", ""), self.expected(identity), rel=0.0, abs_=0.01)


class LongestORF(BioTask):
    """Length in codons (start included, stop excluded) of the longest ATG...stop ORF on the forward strand."""

    name = "bio_longest_orf"
    instruction = "Give the number of codons (stop codon not counted)."

    def make(self, rng, level):
        parts = [rand_dna(rng, rng.randint(0, 5))]
        for _ in range(level):
            parts.append(coding_sequence(rng, rng.randint(2, 6 * level)))
            parts.append(rand_dna(rng, rng.randint(1, 5)))
        return {"dna": "".join(parts)}

    def question(self, identity):
        return f"Find the longest open reading frame (ATG to the first in-frame stop) on the forward strand of {identity['dna']}."

    def expected(self, identity):
        d, best = identity["dna"], 0
        for i in range(len(d) - 2):
            if d[i:i + 3] == "ATG":
                for j in range(i, len(d) - 2, 3):
                    if CODON_TABLE[d[j:j + 3]] == "*":
                        best = max(best, (j - i) // 3)
                        break
        return best


class MutationEffect(BioTask):
    """Silent, missense or nonsense: the effect of a point substitution in a coding sequence."""

    name = "bio_mutation_effect"
    instruction = "Answer silent, missense or nonsense."

    def make(self, rng, level):
        cds = coding_sequence(rng, 3 * level + 2)
        pos = rng.randint(3, len(cds) - 4)  # not the start or stop codon
        new = rng.choice([b for b in BASES if b != cds[pos]])
        return {"cds": cds, "pos": pos + 1, "new": new}

    def question(self, identity):
        return (f"In the coding sequence {identity['cds']}, position {identity['pos']} (1-based) is mutated to "
                f"{identity['new']}. Is the mutation silent, missense or nonsense?")

    def expected(self, identity):
        cds, p = identity["cds"], identity["pos"] - 1
        mut = cds[:p] + identity["new"] + cds[p + 1:]
        c = p - p % 3
        a, b = CODON_TABLE[cds[c:c + 3]], CODON_TABLE[mut[c:c + 3]]
        return "silent" if a == b else "nonsense" if b == "*" else "missense"

    def judge(self, answer, identity):
        return check_word(answer, self.expected(identity), ("silent", "missense", "nonsense"))


class HammingDistance(BioTask):
    """Number of positions at which two equal-length sequences differ."""

    name = "bio_hamming_distance"

    def make(self, rng, level):
        a = rand_dna(rng, _len(level))
        b = "".join(c if rng.random() > 0.3 else rng.choice(BASES) for c in a)
        return {"a": a, "b": b}

    def question(self, identity):
        return f"What is the Hamming distance between {identity['a']} and {identity['b']}?"

    def expected(self, identity):
        return sum(x != y for x, y in zip(identity["a"], identity["b"]))


def _mutated(rng, a: str, rate: float) -> str:
    out = []
    for c in a:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice(BASES))
        if r < rate:
            out.append(rng.choice(BASES))
            continue
        out.append(c)
    return "".join(out) or "A"


class GlobalAlignmentScore(BioTask):
    """Optimal Needleman-Wunsch score with linear gap penalty."""

    name = "bio_global_alignment_score"

    def make(self, rng, level):
        a = rand_dna(rng, 4 + 3 * level)
        return {"a": a, "b": _mutated(rng, a, 0.3), "match": rng.randint(1, 3), "mismatch": -rng.randint(1, 3),
                "gap": -rng.randint(1, 4)}

    def question(self, identity):
        return (f"Globally align {identity['a']} and {identity['b']} with match {identity['match']}, mismatch "
                f"{identity['mismatch']}, gap {identity['gap']} (linear). What is the optimal score?")

    def expected(self, identity):
        return align_score(identity["a"], identity["b"], identity["match"], identity["mismatch"], identity["gap"],
                           local=False)


class LocalAlignmentScore(GlobalAlignmentScore):
    """Optimal Smith-Waterman local alignment score with linear gap penalty."""

    name = "bio_local_alignment_score"

    def make(self, rng, level):
        core = rand_dna(rng, 3 + 2 * level)
        return {"a": rand_dna(rng, level + 2) + core + rand_dna(rng, 3), "b": rand_dna(rng, 2) + _mutated(rng, core, 0.2),
                "match": rng.randint(1, 3), "mismatch": -rng.randint(1, 3), "gap": -rng.randint(1, 4)}

    def question(self, identity):
        return (f"Locally align (Smith-Waterman) {identity['a']} and {identity['b']} with match {identity['match']},"
                f" mismatch {identity['mismatch']}, gap {identity['gap']}. What is the best local score?")

    def expected(self, identity):
        return align_score(identity["a"], identity["b"], identity["match"], identity["mismatch"], identity["gap"],
                           local=True)


def align_score(a: str, b: str, match: int, mismatch: int, gap: int, local: bool) -> int:
    prev = [0 if local else j * gap for j in range(len(b) + 1)]
    best = 0
    for i in range(1, len(a) + 1):
        cur = [0 if local else i * gap]
        for j in range(1, len(b) + 1):
            v = max(prev[j - 1] + (match if a[i - 1] == b[j - 1] else mismatch), prev[j] + gap, cur[j - 1] + gap)
            if local:
                v = max(v, 0)
                best = max(best, v)
            cur.append(v)
        prev = cur
    return best if local else prev[-1]


class KmerCount(BioTask):
    """Occurrences (overlapping) of a k-mer in a sequence."""

    name = "bio_kmer_count"

    def make(self, rng, level):
        k = rng.randint(2, 3)
        kmer = rand_dna(rng, k)
        seq = "".join(kmer if rng.random() < 0.3 else rand_dna(rng, rng.randint(1, 4)) for _ in range(4 * level))
        return {"seq": seq, "kmer": kmer}

    def question(self, identity):
        return f"How many times (overlaps allowed) does {identity['kmer']} occur in {identity['seq']}?"

    def expected(self, identity):
        s, k = identity["seq"], identity["kmer"]
        return sum(s.startswith(k, i) for i in range(len(s)))


class MeltingTemperature(BioTask):
    """Primer melting temperature by the Wallace rule: 2 (A+T) + 4 (G+C) degrees Celsius."""

    name = "bio_melting_temperature"
    instruction = "Give the temperature in degrees Celsius, number only."

    def make(self, rng, level):
        return {"primer": rand_dna(rng, 8 + 2 * level)}

    def question(self, identity):
        return f"Estimate the melting temperature of the primer {identity['primer']} with the Wallace rule."

    def expected(self, identity):
        p = identity["primer"]
        return 2 * (p.count("A") + p.count("T")) + 4 * (p.count("G") + p.count("C"))


class ProteinMass(BioTask):
    """Average molecular mass of a peptide (sum of residue masses + one water), in Da."""

    name = "bio_protein_mass"
    instruction = "Give the mass in Da to one decimal."

    def make(self, rng, level):
        return {"protein": "".join(rng.choice(AMINO) for _ in range(3 * level + rng.randint(1, 4)))}

    def question(self, identity):
        return f"What is the average molecular mass of the peptide {identity['protein']}?"

    def expected(self, identity):
        return sum(RESIDUE_MASS[a] for a in identity["protein"]) + WATER

    def render(self, value):
        return f"{value:.2f}"

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=0.0, abs_=0.5)


class RestrictionSites(BioTask):
    """1-based start positions of a restriction enzyme's recognition site on the forward strand."""

    name = "bio_restriction_sites"
    instruction = "List the positions separated by commas (none if there is no site)."

    def make(self, rng, level):
        enz = rng.choice(sorted(ENZYMES))
        site = ENZYMES[enz]
        seq = "".join(site if rng.random() < 0.25 else rand_dna(rng, rng.randint(2, 6)) for _ in range(3 * level + 2))
        return {"seq": seq, "enzyme": enz}

    def question(self, identity):
        return (f"{identity['enzyme']} recognises {ENZYMES[identity['enzyme']]}. Where does it occur in "
                f"{identity['seq']}?")

    def expected(self, identity):
        s, site = identity["seq"], ENZYMES[identity["enzyme"]]
        return [i + 1 for i in range(len(s)) if s.startswith(site, i)]

    def render(self, value):
        return ", ".join(map(str, value)) if value else "none"

    def judge(self, answer, identity):
        want = self.expected(identity)
        if answer.strip().lower() in ("none", "no sites", "-", "[]"):
            return (True, "bootcamp_correct") if not want else (False, "bootcamp_wrong_answer")
        return check_int_list(answer, want, ordered=False)


class ReverseTranslation(BioTask):
    """Any DNA that encodes the given protein (ATG ... stop): the verifier translates the answer."""

    name = "bio_reverse_translation"
    instruction = "Give one coding DNA sequence, start and stop codons included."

    def make(self, rng, level):
        return {"protein": "M" + "".join(rng.choice(AMINO) for _ in range(2 * level + 2))}

    def question(self, identity):
        return f"Write a DNA coding sequence (with a stop codon) for the protein {identity['protein']}."

    def expected(self, identity):
        back = {a: c for c, a in sorted(CODON_TABLE.items(), reverse=True)}
        return "".join(back[a] for a in identity["protein"]) + "TAA"

    def judge(self, answer, identity):
        s = "".join(answer.split()).upper()
        if not s or set(s) - set(BASES) or len(s) % 3:
            return False, "bootcamp_unparseable_answer"
        if CODON_TABLE[s[-3:]] != "*":
            return False, "bootcamp_missing_stop"
        ok = translate(s[:-3], to_stop=False) == identity["protein"]
        return (True, "bootcamp_correct") if ok else (False, "bootcamp_wrong_answer")


class TransitionsTransversions(BioTask):
    """Counts of transitions (A<->G, C<->T) and transversions between two aligned sequences."""

    name = "bio_transitions_transversions"
    instruction = "Give the two counts as: transitions, transversions."

    def make(self, rng, level):
        a = rand_dna(rng, _len(level))
        return {"a": a, "b": "".join(c if rng.random() > 0.3 else rng.choice(BASES) for c in a)}

    def question(self, identity):
        return f"Count the transitions and transversions between {identity['a']} and {identity['b']}."

    def expected(self, identity):
        purine = set("AG")
        ts = tv = 0
        for x, y in zip(identity["a"], identity["b"]):
            if x != y:
                if (x in purine) == (y in purine):
                    ts += 1
                else:
                    tv += 1
        return [ts, tv]

    def render(self, value):
        return f"{value[0]}, {value[1]}"

    def judge(self, answer, identity):
        return check_int_list(answer, self.expected(identity))


class ConsensusSequence(BioTask):
    """Column-wise majority of aligned sequences (ties broken in the order A, C, G, T)."""

    name = "bio_consensus_sequence"
    instruction = "Give the consensus in capital letters."

    def make(self, rng, level):
        base = rand_dna(rng, 6 + 2 * level)
        return {"seqs": ["".join(c if rng.random() > 0.3 else rng.choice(BASES) for c in base)
                         for _ in range(3 + level)]}

    def question(self, identity):
        return ("Give the consensus of the aligned sequences " + ", ".join(identity["seqs"])
                + " (ties: first of A, C, G, T).")

    def expected(self, identity):
        out = []
        for col in zip(*identity["seqs"]):
            out.append(max(BASES, key=lambda b: (col.count(b), -BASES.index(b))))
        return "".join(out)

    def judge(self, answer, identity):
        return check_seq(answer, self.expected(identity), BASES)


class HardyWeinberg(BioTask):
    """Heterozygote frequency 2pq from the frequency of the recessive phenotype (q^2)."""

    name = "bio_hardy_weinberg"
    instruction = "Give the frequency as a decimal to four places."

    def make(self, rng, level):
        return {"q2": round(rng.uniform(0.0005, 0.3) / level, 5)}

    def question(self, identity):
        return (f"In a population in Hardy-Weinberg equilibrium, {identity['q2']} of individuals show the recessive "
                "phenotype. What fraction are heterozygous carriers?")

    def expected(self, identity):
        q = identity["q2"] ** 0.5
        return 2 * q * (1 - q)

    def render(self, value):
        return sig(value, 6)

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=2e-3)


class CodonCount(BioTask):
    """How many times a codon occurs in frame in a coding sequence."""

    name = "bio_codon_count"

    def make(self, rng, level):
        cds = coding_sequence(rng, 6 * level)
        codons = [cds[i:i + 3] for i in range(0, len(cds), 3)]
        return {"cds": cds, "codon": rng.choice(codons[1:-1])}

    def question(self, identity):
        return f"How many times does the codon {identity['codon']} occur in frame in {identity['cds']}?"

    def expected(self, identity):
        c = identity["cds"]
        return sum(c[i:i + 3] == identity["codon"] for i in range(0, len(c), 3))


BIO_TASKS = [ReverseComplement, Transcription, Translation, GCContent, LongestORF, MutationEffect, HammingDistance,
             GlobalAlignmentScore, LocalAlignmentScore, KmerCount, MeltingTemperature, ProteinMass, RestrictionSites,
             ReverseTranslation, TransitionsTransversions, ConsensusSequence, HardyWeinberg, CodonCount]
