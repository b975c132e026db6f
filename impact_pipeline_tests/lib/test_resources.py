"""A misspelt or misplaced resource setting is an error where it is written, never silently ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from impact_pipeline.defs.quality.resources import QualitySources
from impact_pipeline.lib.http_settings import HttpSettings


def test_a_setting_outside_its_place_is_refused():
    # allow_private_network belongs in `http`: given to the resource itself, it used to be accepted and ignored.
    with pytest.raises(ValidationError, match="allow_private_network"):
        QualitySources(allow_private_network=True)
    with pytest.raises(ValidationError, match="alow_private_network"):
        HttpSettings(alow_private_network=True)
    assert QualitySources(http=HttpSettings(allow_private_network=True)).http.allow_private_network is True


def test_every_resource_of_the_code_location_refuses_unknown_settings():
    from impact_pipeline.definitions import defs

    resources = defs.resources
    assert {"warehouse", "criteria", "registry", "usage", "quality", "gates"} <= set(resources)
    for name, resource in resources.items():
        values = {field: getattr(resource, field) for field in type(resource).model_fields}
        assert type(resource)(**values) == resource, name  # its own settings rebuild it
        with pytest.raises(ValidationError, match="unknown_setting"):
            type(resource)(**values, unknown_setting=1)
