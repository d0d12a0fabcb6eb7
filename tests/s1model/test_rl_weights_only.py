"""Issue #18: checkpoint files are read with torch.load(weights_only=True); a file carrying pickled objects is
refused with the globals it names, never executed."""

from __future__ import annotations

import os
from argparse import Namespace

import pytest
import torch

from s1model.export import export_hf


def test_a_deepspeed_checkpoint_file_with_a_pickled_object_is_refused_with_the_global_it_names(tmp_path):
    folder = tmp_path / "ckpt" / "step1"
    folder.mkdir(parents=True)
    # what old DeepSpeed checkpoints carried (the launcher's args): harmless here, but any class could run code
    states = {"module": {"model.norm.weight": torch.ones(4)}, "args": Namespace(lr=1.0)}
    torch.save(states, folder / "mp_rank_00_model_states.pt")
    (tmp_path / "ckpt" / "latest").write_text("step1")
    with pytest.raises(ValueError, match=r"refusing to unpickle \['argparse.Namespace'\]"):
        export_hf(str(tmp_path / "ckpt"), str(tmp_path / "hf"))
    assert not os.path.exists(tmp_path / "hf")
