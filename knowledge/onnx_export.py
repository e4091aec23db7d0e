"""A transformer encoder written to an ONNX file with torch, offline (`knowledge.embeddings`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def export_encoder(
    encoder: Any, sample: Mapping[str, Any], names: tuple[str, ...], path: Path
) -> None:
    """Export `encoder` (a Hugging Face model in eval mode) to `path`: inputs `names` (traced with
    `sample`'s tensors), output its last hidden state, batch and sequence axes dynamic."""
    import torch

    class _LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder  # a submodule, so its weights export as parameters

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            output = self.encoder(**dict(zip(names, inputs, strict=True)))
            return output.last_hidden_state  # type: ignore[no-any-return]

    axes = {name: {0: "batch", 1: "sequence"} for name in (*names, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(
            _LastHiddenState(),
            tuple(sample[name] for name in names),
            str(path),
            input_names=list(names),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
