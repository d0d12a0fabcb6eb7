"""Bad-input zoo and generated PDFs for the tests (made here, nothing shipped)."""

from __future__ import annotations

from pathlib import Path

from s1data.samples import write_sample_pdf

def _zero_page_pdf() -> bytes:
    """A well-formed PDF (correct xref) whose page tree is empty."""
    objs = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[]/Count 0>>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def make_zoo(out: Path, good_source: Path) -> dict[str, Path]:
    """name -> path of: encrypted, empty, zero_pages, not_a_pdf, truncated (a real PDF cut at 40%), good."""
    import pymupdf

    out.mkdir(parents=True, exist_ok=True)
    zoo: dict[str, Path] = {}
    good = write_sample_pdf(out / "good.pdf", "A good paper", "The sample text of a good page. ", pages=2)
    zoo["good"] = good
    doc = pymupdf.open(good)
    doc.save(out / "encrypted.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    zoo["encrypted"] = out / "encrypted.pdf"
    (out / "empty.pdf").write_bytes(b"")
    zoo["empty"] = out / "empty.pdf"
    (out / "zero_pages.pdf").write_bytes(_zero_page_pdf())
    zoo["zero_pages"] = out / "zero_pages.pdf"
    (out / "not_a_pdf.pdf").write_bytes(b"<html><body>this is a web page saved as .pdf</body></html>\n" * 20)
    zoo["not_a_pdf"] = out / "not_a_pdf.pdf"
    data = Path(good_source).read_bytes()
    (out / "truncated.pdf").write_bytes(data[: int(len(data) * 0.4)])
    zoo["truncated"] = out / "truncated.pdf"
    return zoo


def make_corpus(out: Path, n: int, pages: int, prefix: str = "gen") -> list[Path]:
    """n distinct generated PDFs of `pages` pages each."""
    return [write_sample_pdf(out / f"{prefix}_{i:03d}.pdf", f"Generated paper {prefix} {i}",
                             f"Body text of paper {i} about measurement number {i * 7}. ", pages=pages)
            for i in range(n)]
