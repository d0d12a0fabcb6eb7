"""PDF mining: PyMuPDF on every page, a per-page formula/symbol detector routing hard pages to a high-cost parser
(PyMuPDF4LLM layout + Tesseract OCR, or an OpenAI-compatible vision endpoint), figures with captions, bounded and
recycled parser processes, and a merge with global page dedup.
"""

from s1data.pdf.config import PDF_CODE_VERSION, PdfConfig
from s1data.pdf.detect import PdfPageRouter
from s1data.pdf.merge import merge_partitions
from s1data.pdf.parse import parse_pdf
from s1data.pdf.worker import TRANSIENT_REASONS, parse_batch

__all__ = ["PDF_CODE_VERSION", "PdfConfig", "PdfPageRouter", "merge_partitions", "parse_pdf", "parse_batch",
           "TRANSIENT_REASONS"]
