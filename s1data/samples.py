"""Bundled sample inputs, generated rather than shipped: small science PDFs for `s1 demo` and the tests."""

from __future__ import annotations

from pathlib import Path

SAMPLE_TEXTS = [
    ("Thermal conductivity of layered materials",
     "We measure the in-plane thermal conductivity of graphite and hexagonal boron nitride between 100 K and "
     "400 K. The phonon mean free path decreases with temperature following an Umklapp law. "),
    ("Enzyme kinetics of a bacterial hydrolase",
     "The Michaelis constant of the purified enzyme was 42 uM at pH 7.4. Substrate inhibition appears above "
     "2 mM. The catalytic residue was identified by site-directed mutagenesis of serine 105. "),
    ("On the distribution of prime gaps",
     "Let p_n denote the n-th prime. We study the normalised gaps (p_{n+1} - p_n) / log p_n and show that their "
     "empirical distribution approaches an exponential law for n up to 10^9. "),
]


def write_sample_pdf(path: Path, title: str, body: str, pages: int = 2, math_page: bool = False) -> Path:
    import pymupdf

    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page()
        text = f"{title}\n\nPage {i + 1}\n\n" + body * 12
        page.insert_textbox(pymupdf.Rect(56, 56, 540, 780), text, fontsize=10)
        if math_page and i == pages - 1:
            page.insert_textbox(pymupdf.Rect(56, 600, 540, 780),
                                "∀ε>0 ∃δ>0 : |x−y|<δ ⇒ |f(x)−f(y)|<ε   ∑ᵢ∫ ∂²ψ/∂x² ≤ ∞ ≠ ∅ ⊆ ∈ ∉ ∪ ∩ ⊗ ⊕ ∇ ∮" * 3,
                                fontsize=10, fontname="symb")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    doc.close()
    return path


def write_sample_pdfs(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    return [write_sample_pdf(out / f"sample_{i}.pdf", t, b, pages=2 + i, math_page=(i == 2))
            for i, (t, b) in enumerate(SAMPLE_TEXTS)]
