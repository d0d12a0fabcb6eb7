import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from s1data.science import (LABELS, LEXICONS, TAXONOMY, LlmLabelConfig, SilverLabelConfig, find_chemical_formulas,
                            find_smiles, silver_label)
from s1data.science.taxonomy import validate_taxonomy

ALGEBRA = ("Every finite abelian group is a direct sum of cyclic groups. A homomorphism between groups sends the "
           "identity to the identity, and its kernel is a normal subgroup. The determinant of a linear map is the "
           "product of its eigenvalues, and an eigenvector spans an invariant line of the vector space.")
SHOPPING = ("Our summer sale starts on Monday with discounts on every jacket and pair of shoes in the store. "
            "Order before noon and we deliver the same day, free of charge for members. The coupon code is valid "
            "for one week and cannot be combined with other offers. Visit the shop to see the new collection, "
            "try the denim line and ask our friendly staff about gift cards for the holidays this year.")


def test_the_taxonomy_has_six_domains_and_every_subdomain_has_a_few_dozen_lexicon_terms():
    validate_taxonomy()
    assert list(TAXONOMY) == ["math", "physics", "chemistry", "life_science", "earth_science", "materials"]
    assert all(len(terms) >= 24 for subs in LEXICONS.values() for terms in subs.values())
    assert LABELS[0] == "none" and len(LABELS) == 1 + sum(len(s) for s in TAXONOMY.values())


def test_an_algebra_paragraph_is_labelled_math_algebra_with_its_terms_as_evidence():
    d, s, conf, ev = silver_label(ALGEBRA)
    assert (d, s) == ("math", "algebra")
    assert conf > 0.6
    assert {"abelian group", "homomorphism", "determinant", "normal subgroup"} <= set(ev["terms"]["math/algebra"])
    assert ev["source"] == "rules"


def test_a_shopping_page_is_confidently_not_science():
    d, s, conf, ev = silver_label(SHOPPING)
    assert (d, s) == (None, None)
    assert conf > 0.9 and ev["evidence_score"] == 0


def test_smiles_tokens_are_validated_by_rdkit_and_plain_words_are_rejected():
    text = "Aspirin CC(=O)OC1=CC=CC=C1C(=O)O and phenol c1ccccc1O beat Hello, CCO-like words, (2), [12] and Cocoa."
    assert find_smiles(text) == ["CC(=O)OC1=CC=CC=C1C(=O)O", "c1ccccc1O"]
    assert find_smiles("The CEO of OpenAI met the Board in London on Monday.") == []


def test_smiles_alone_make_a_text_organic_chemistry():
    text = ("We prepared CC(=O)OC1=CC=CC=C1C(=O)O from c1ccc(cc1)O and then CCN(CC)CC was added slowly to the "
            "flask.")
    d, s, _, ev = silver_label(text)
    assert (d, s) == ("chemistry", "organic_chemistry") and len(ev["smiles"]) == 3


def test_chemical_formulas_need_element_symbols_and_a_digit():
    assert find_chemical_formulas("H2O, CO2 and Fe2O3 but not MP3, A4, COVID19 or NASA") == ["H2O", "CO2", "Fe2O3"]


def test_a_latex_heavy_text_without_lexicon_terms_is_math_by_formula_density():
    text = r"We have $\frac{a}{b} = \sum_{n} x_n$ and $\int_0^1 f(x)\,dx = \sqrt{2}$ so x = 3 and y = \alpha + \beta."
    d, _, _, ev = silver_label(text)
    assert d == "math" and ev["formula_density"] > 20


class _StandInChatServer(BaseHTTPRequestHandler):
    """A local STAND-IN for an OpenAI-compatible /chat/completions endpoint (no model behind it)."""

    reply = '{"domain": "physics", "subdomain": "quantum_physics", "confidence": 0.9}'
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, body))
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": type(self).reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture()
def stand_in_llm():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandInChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _StandInChatServer.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_an_uncertain_text_is_sent_to_the_configured_llm_and_its_label_is_used(stand_in_llm):
    config = SilverLabelConfig(llm=LlmLabelConfig(base_url=stand_in_llm, model="stand-in"))
    d, s, conf, ev = silver_label("A short note about qubits.", config)
    assert (d, s, conf, ev["source"]) == ("physics", "quantum_physics", 0.9, "llm")
    path, body = _StandInChatServer.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "stand-in"
    assert "quantum_physics" in body["messages"][0]["content"]


def test_a_confident_rule_label_does_not_call_the_llm(stand_in_llm):
    config = SilverLabelConfig(llm=LlmLabelConfig(base_url=stand_in_llm, below_confidence=0.5))
    assert silver_label(ALGEBRA, config)[:2] == ("math", "algebra")
    assert _StandInChatServer.requests == []


def test_an_llm_answer_outside_the_taxonomy_keeps_the_rule_label_and_records_the_error(stand_in_llm, monkeypatch):
    monkeypatch.setattr(_StandInChatServer, "reply", '{"domain": "astrology", "subdomain": "horoscopes"}')
    config = SilverLabelConfig(llm=LlmLabelConfig(base_url=stand_in_llm, below_confidence=1.01))
    d, _, _, ev = silver_label(SHOPPING, config)
    assert d is None and ev["source"] == "rules"
    assert ev["llm_error"].startswith("llm_unknown_label: astrology/horoscopes")
