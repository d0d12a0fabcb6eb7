import torch

from s1model.config import ModelConfig, PretrainConfig, s1_ref, tiny
from s1model.model import (active_params, build_model, hf_config, lm_loss, packed_inputs, resize_embeddings,
                           router_losses)


def _tiny_model(attn="sdpa"):
    cfg = tiny().model_copy(update={"attn_implementation": attn})
    return build_model(cfg).eval()


def test_document_mask_stops_attention_across_documents():
    for attn in ("sdpa", "eager"):
        model = _tiny_model(attn)
        gen = torch.Generator().manual_seed(0)
        ids_BS = torch.randint(1, 256, (1, 64), generator=gen)
        position_ids_BS, _ = packed_inputs([[20, 30, 14]], 64)
        changed_BS = ids_BS.clone()
        changed_BS[0, :20] = torch.randint(1, 256, (20,), generator=gen)  # rewrite document 0 only
        with torch.no_grad():
            a = model(input_ids=ids_BS, position_ids=position_ids_BS).logits
            b = model(input_ids=changed_BS, position_ids=position_ids_BS).logits
            alone = model(input_ids=ids_BS[:, 20:50]).logits  # document 1 on its own
        assert not torch.allclose(a[0, :20], b[0, :20])
        torch.testing.assert_close(a[0, 20:], b[0, 20:], rtol=0, atol=1e-5)
        torch.testing.assert_close(a[0, 20:50], alone[0], rtol=1e-4, atol=1e-5)


def test_without_document_masking_later_documents_see_earlier_ones():
    model = _tiny_model()
    ids_BS = torch.randint(1, 256, (1, 64), generator=torch.Generator().manual_seed(1))
    position_ids_BS, _ = packed_inputs([[20, 44]], 64, document_masking=False)
    changed_BS = ids_BS.clone()
    changed_BS[0, :20] = (changed_BS[0, :20] + 7) % 256
    with torch.no_grad():
        a = model(input_ids=ids_BS, position_ids=position_ids_BS).logits
        b = model(input_ids=changed_BS, position_ids=position_ids_BS).logits
    assert not torch.allclose(a[0, 20:], b[0, 20:])


def test_loss_mask_drops_predictions_across_a_document_boundary():
    position_ids_BS, mask_BS = packed_inputs([[3, 5]], 8)
    assert position_ids_BS.tolist() == [[0, 1, 2, 0, 1, 2, 3, 4]]
    assert mask_BS.tolist() == [[True, True, False, True, True, True, True, False]]
    logits_BSV = torch.zeros(1, 8, 4)
    assert torch.isclose(lm_loss(logits_BSV, torch.zeros(1, 8, dtype=torch.long), mask_BS), torch.log(torch.tensor(4.)))


def test_embedding_resize_keeps_old_rows_and_starts_new_rows_near_the_mean():
    model = _tiny_model()
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    resize_embeddings(model, 300, noise=0.02, seed=0)
    new_in = model.get_input_embeddings().weight.detach()
    new_out = model.get_output_embeddings().weight.detach()
    assert new_in.shape == (300, 64) and new_out.shape == (300, 64) and model.config.vocab_size == 300
    torch.testing.assert_close(new_in[:256], old_in, rtol=0, atol=0)
    torch.testing.assert_close(new_out[:256], old_out, rtol=0, atol=0)
    spread = (new_in[256:] - old_in.mean(0)).abs().max()
    assert 0 < spread < 0.2 * old_in.std(0).max()
    logits = model(input_ids=torch.tensor([[1, 2, 299]])).logits  # new ids go through embedding and head
    assert logits.shape == (1, 3, 300)


def test_continuing_from_an_hf_checkpoint_resizes_to_the_tokenizer_vocab(tmp_path):
    src = _tiny_model()
    src.save_pretrained(tmp_path / "init")
    cfg = tiny().model_copy(update={"init_from": str(tmp_path / "init"),
                                    "model": tiny().model.model_copy(update={"vocab_size": 260})})
    model = build_model(cfg)
    assert model.config.vocab_size == 260
    torch.testing.assert_close(model.get_input_embeddings().weight[:256], src.get_input_embeddings().weight)


def test_a_balanced_router_has_load_balance_loss_one_and_a_collapsed_router_more():
    balanced_TE = torch.zeros(64, 4)
    collapsed_TE = torch.tensor([[10.0, 9.0, 0.0, 0.0]]).repeat(64, 1)
    aux_b, z_b, load_b = router_losses((balanced_TE,), top_k=2)
    aux_c, _, load_c = router_losses((collapsed_TE,), top_k=2)
    assert torch.isclose(aux_b, torch.tensor(1.0), atol=0.3)
    assert aux_c > 1.5
    assert torch.isclose(z_b, torch.log(torch.tensor(4.0)) ** 2)
    assert load_c.tolist() == [[0.5, 0.5, 0.0, 0.0]]


def test_s1_ref_has_the_issue_parameter_counts():
    cfg = hf_config(s1_ref().model)
    assert round(active_params(cfg) / 1e6) in range(555, 563)
    model_cfg = ModelConfig()
    assert model_cfg == s1_ref().model
    assert isinstance(s1_ref(), PretrainConfig)
