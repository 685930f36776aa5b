"""Listing and retrieving models."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_openai import list_models, retrieve_model
from tests.openai_replay import call

pytestmark = pytest.mark.vcr


def test_list_models(cassette: Any) -> None:
    models = call(list_models)
    assert [model["id"] for model in models] == ["model-id-0", "model-id-1", "model-id-2"]
    assert models[0]["owned_by"] == "organization-owner"


def test_retrieve_model(cassette: Any) -> None:
    model = call(retrieve_model, model="gpt-5.4")
    assert (model["id"], model["owned_by"]) == ("gpt-5.4", "openai")
    assert model["shutdown_date"] == "2026-10-23"
