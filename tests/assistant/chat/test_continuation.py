"""What a continued answer shows the model: a prefill where the provider continues one."""

from __future__ import annotations

from assistant.chat.continuation import GO_ON, tail
from core.catalog import CatalogModel


def _model(**info: object) -> CatalogModel:
    return CatalogModel(
        name="m",
        description="",
        deployments=(),
        price=None,
        max_input_tokens=8000,
        max_output_tokens=None,
        info=info,
    )


def test_a_model_that_prefills_continues_the_answer_itself_and_others_are_asked_to() -> None:
    prefilled = tail(_model(supports_assistant_prefill=True), "Half a sen \n")
    assert prefilled == [{"role": "assistant", "content": "Half a sen", "prefix": True}]
    asked = tail(_model(), "Half a sen ")
    assert asked == [
        {"role": "assistant", "content": "Half a sen "},
        {"role": "user", "content": GO_ON},
    ]
    assert tail(_model(supports_assistant_prefill=True), " \n") == []
