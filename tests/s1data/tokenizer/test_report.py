from s1data.tokenizer import compression_report
from tests.s1data.tokenizer.corpus import PROSE, mixed_corpus, nci_smiles


def test_compression_report_shows_the_smiles_gain_and_no_loss_on_prose(trained):
    out, summary = trained
    held_out = nci_smiles(400)[300:]
    rows = compression_report(out, {"chemistry": [f"The structure {s} was screened." for s in held_out],
                                    "general": PROSE}, baseline_vocab_size=summary["ranges"]["text"][1],
                              baseline_texts=mixed_corpus())
    by = {(r["domain"], r["modality"]): r for r in rows}
    assert {("chemistry", "smiles"), ("chemistry", "text"), ("chemistry", "all"), ("general", "all"),
            ("ALL", "smiles")} <= set(by)
    smiles = by[("chemistry", "smiles")]
    assert smiles["chars"] == sum(map(len, held_out))
    assert smiles["gain"] >= 0.3, smiles
    assert by[("general", "all")]["gain"] >= 0.0, by[("general", "all")]
