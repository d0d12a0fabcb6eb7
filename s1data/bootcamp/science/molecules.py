"""Seeded random molecules with two knobs: size (number of acyclic fragments) and an exact count of rings.

A molecule is a chain: start cap, linkers, end cap. Every ring comes from one ring fragment (no fused systems), so
the ring count equals the number of ring fragments drawn. Each SMILES is checked with RDKit and redrawn if invalid.
"""

from __future__ import annotations

import random

SIZES = {"small": (0, 2), "medium": (3, 5), "large": (6, 9)}  # acyclic linkers in the chain
SIZE_BUCKET = {"small": "S", "medium": "M", "large": "L"}

_START_CAPS = ("C", "O", "N", "F", "Cl", "N#C", "OC(=O)", "FC(F)(F)", "CC(C)", "NC(=O)", "CC(=O)")
_END_CAPS = ("C", "O", "N", "F", "Cl", "Br", "C#N", "C(=O)O", "C(F)(F)F", "C(=O)N", "OC", "C(=O)C", "C(C)C")
_LINKERS = ("C", "CC", "C(C)", "C(=O)", "O", "N", "C(O)", "C(F)", "C(Cl)", "S", "C=C", "C(N)", "C(=O)N",
            "C(=O)O", "N(C)", "C(C)(C)")
_RING_START = ("c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCOC1", "c1ccoc1", "c1ccsc1", "C1CC1", "c1cc(O)ccc1")
_RING_LINKERS = ("c1ccc(cc1)", "C1CCC(CC1)", "c1ccc(nc1)", "C1CC(C1)", "C1CCN(CC1)", "c1cc(cc(F)c1)", "C1OC(CC1)")
_RING_END = ("c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCOC1", "c1ccco1", "c1cccs1", "C1CC1", "c1ccc(N)cc1")


def random_smiles(rng: random.Random, size: str, rings: int) -> str:
    """A valid SMILES with the given size class and exactly ``rings`` rings."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    lo, hi = SIZES[size]
    for _ in range(100):
        n_link = rng.randint(lo, hi)
        slots = n_link + 2  # start cap, linkers, end cap
        ring_slots = set(rng.sample(range(slots), min(rings, slots)))
        extra_rings = rings - len(ring_slots)  # more rings than slots: add ring linkers
        parts = []
        for k in range(slots):
            ring = k in ring_slots
            if k == 0:
                parts.append(rng.choice(_RING_START if ring else _START_CAPS))
            elif k == slots - 1:
                parts.append(rng.choice(_RING_END if ring else _END_CAPS))
            else:
                parts.append(rng.choice(_RING_LINKERS if ring else _LINKERS))
        for _ in range(extra_rings):
            parts.insert(1, rng.choice(_RING_LINKERS))
        smi = "".join(parts)
        mol = Chem.MolFromSmiles(smi)
        if mol is not None and mol.GetRingInfo().NumRings() == rings:
            return smi
    raise RuntimeError(f"could not draw a valid molecule for size={size} rings={rings}")  # a bug, not bad luck


def mol_from(smiles: str):
    """RDKit molecule or None (never raises, never logs)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    if not isinstance(smiles, str) or not smiles.strip() or " " in smiles.strip():
        return None
    try:
        return Chem.MolFromSmiles(smiles.strip())
    except Exception:
        return None


def canonical(smiles: str) -> str | None:
    from rdkit import Chem

    mol = mol_from(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def shuffled_smiles(smiles: str, seed: int) -> str:
    """A random (non-canonical) SMILES of the same molecule, reproducible from ``seed``."""
    from rdkit import Chem

    mol = mol_from(smiles)
    return Chem.MolToRandomSmilesVect(mol, 1, randomSeed=seed)[0]
