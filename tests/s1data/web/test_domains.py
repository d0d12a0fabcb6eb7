import json
import random

import pyarrow as pa

from s1data.filters import CurationConfig
from s1data.web.domains import DECISIONS_SCHEMA, DomainDecisionConfig, domain_decisions

SCIENCE = ("The thermal conductivity of graphene is among the highest of any known material. It depends on the size "
           "of the sample and on the density of defects that scatter phonons. Measurements with Raman spectroscopy "
           "show values that exceed those of diamond at room temperature. These results have motivated the use of "
           "graphene in heat spreaders for electronic devices. However, the contact resistance with the substrate "
           "limits the benefit in practical applications. Sample {i} was measured twice.")
SHOP = ("Our summer sale starts on Monday with discounts on every jacket and pair of shoes in the store. Order before "
        "noon and we deliver the same day, free of charge for members. The coupon code is valid for one week and "
        "cannot be combined with other offers. Visit the shop to see the new collection and ask the staff about "
        "gift cards for the holidays. Offer number {i} is limited to one per customer.")
MENU = "Home\nAbout\nShop {i}\nContact"


def pages(spec):
    rows = [(dom, tpl.format(i=i)) for dom, tpl, n in spec for i in range(n)]
    random.Random(0).shuffle(rows)
    return pa.table({"doc_id": [f"{d}-{t[-12:]}-{k}" for k, (d, t) in enumerate(rows)],
                     "domain": [d for d, _ in rows], "text": [t for _, t in rows]})


def by_domain(table):
    return {r["domain"]: r for r in table.to_pylist()}


def keyword_scorer(texts):
    """A tiny scorer for the test: 0.9 for texts about graphene, 0.05 otherwise."""
    return [0.9 if "graphene" in t else 0.05 for t in texts]


def test_each_domain_is_sampled_to_at_most_n_pages_and_the_sample_is_deterministic():
    t = pages([("sci.org", SCIENCE, 50), ("shop.com", SHOP, 4)])
    cfg = DomainDecisionConfig(max_pages_per_domain=10, curation=CurationConfig(language=None))
    a, b = domain_decisions(t, cfg), domain_decisions(t.take(list(range(t.num_rows))[::-1]), cfg)
    assert a.schema == DECISIONS_SCHEMA
    rows = by_domain(a)
    assert (rows["sci.org"]["n_pages"], rows["sci.org"]["n_sampled"]) == (50, 10)
    assert (rows["shop.com"]["n_pages"], rows["shop.com"]["n_sampled"]) == (4, 4)
    assert json.loads(rows["sci.org"]["evidence_json"])["sampled_keys"] == \
        json.loads(by_domain(b)["sci.org"]["evidence_json"])["sampled_keys"]
    other = domain_decisions(t, cfg.model_copy(update={"seed": 1}))
    assert json.loads(by_domain(other)["sci.org"]["evidence_json"])["sampled_keys"] != \
        json.loads(rows["sci.org"]["evidence_json"])["sampled_keys"]


def test_without_a_scorer_good_pages_are_kept_and_menu_pages_dropped_with_their_filter_reasons():
    t = pages([("sci.org", SCIENCE, 6), ("menus.net", MENU, 6)])
    rows = by_domain(domain_decisions(t, DomainDecisionConfig(curation=CurationConfig(language=None))))
    assert (rows["sci.org"]["decision"], rows["sci.org"]["keep_rate"]) == ("keep", 1.0)
    assert rows["sci.org"]["mean_science_score"] is None
    assert (rows["menus.net"]["decision"], rows["menus.net"]["keep_rate"]) == ("drop", 0.0)
    ev = json.loads(rows["menus.net"]["evidence_json"])
    assert ev["rule"] == "low_quality" and ev["drop_reasons"] == {"gopher:gopher_short_doc": 6}


def test_with_a_scorer_clean_non_science_is_dropped_and_science_behind_bad_quality_is_a_rewrite_candidate():
    bad_science = "graphene phonons\n" * 3 + "Sample {i}"
    t = pages([("sci.org", SCIENCE, 5), ("shop.com", SHOP, 5), ("notes.edu", bad_science, 5)])
    cfg = DomainDecisionConfig(curation=CurationConfig(language=None))
    rows = by_domain(domain_decisions(t, cfg, scorer=keyword_scorer))
    assert rows["sci.org"]["decision"] == "keep" and rows["sci.org"]["mean_science_score"] == 0.9
    assert rows["shop.com"]["decision"] == "drop"
    assert json.loads(rows["shop.com"]["evidence_json"])["rule"] == "low_science"
    assert rows["notes.edu"]["decision"] == "rewrite_candidate"
    assert json.loads(rows["notes.edu"]["evidence_json"])["rule"] == "science_but_low_quality"


def test_a_borderline_domain_without_a_scorer_is_a_rewrite_candidate_and_small_domains_are_flagged():
    t = pages([("mixed.org", SCIENCE, 1), ("mixed.org", MENU, 2)])
    row = domain_decisions(t, DomainDecisionConfig(curation=CurationConfig(language=None))).to_pylist()[0]
    assert row["decision"] == "rewrite_candidate" and abs(row["keep_rate"] - 1 / 3) < 1e-6
    ev = json.loads(row["evidence_json"])
    assert ev["rule"] == "borderline_quality" and ev["few_pages"] is False
    single = domain_decisions(pages([("one.org", SCIENCE, 1)]), DomainDecisionConfig(curation=CurationConfig(
        language=None))).to_pylist()[0]
    assert json.loads(single["evidence_json"])["few_pages"] is True


def test_an_empty_page_table_gives_an_empty_decision_table():
    empty = pa.table({"doc_id": pa.array([], pa.string()), "domain": pa.array([], pa.string()),
                      "text": pa.array([], pa.string())})
    assert domain_decisions(empty).num_rows == 0


def test_a_domain_in_an_unwanted_language_is_dropped_even_with_a_high_science_score():
    de = ("Die Wärmeleitfähigkeit von Graphen gehört zu den höchsten aller bekannten Materialien und hängt von der "
          "Größe der Probe ab. Messungen zeigen Werte über denen von Diamant bei Raumtemperatur. Probe {i}.")
    rows = by_domain(domain_decisions(pages([("de.example", de, 4), ("sci.org", SCIENCE, 4)]),
                                      DomainDecisionConfig(), scorer=lambda texts: [0.95] * len(texts)))
    assert rows["de.example"]["decision"] == "drop"
    ev = json.loads(rows["de.example"]["evidence_json"])
    assert ev["rule"] == "unwanted_language" and ev["drop_reasons"] == {"lang:lang_not_wanted": 4}
    assert rows["sci.org"]["decision"] == "keep"
