"""The smallcase config: checked when it loads, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from adapters.smallcase.config import SmallcaseConfig, fill_link
from engine.app.config import load_config
from engine.errors import ConfigError


def test_a_link_template_that_cannot_be_filled_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    with pytest.raises(msgspec.ValidationError, match="link_template"):
        msgspec.convert({"link_template": "https://example.com/{txid}"}, SmallcaseConfig)
    path = tmp_path / "bad.yaml"
    path.write_text('mode: live\nvenues:\n  smallcase: {type: smallcase, link_template: "https://x/{transactionId}"}\n')

    with pytest.raises(ConfigError) as err:
        load_config(path)

    assert "venues.smallcase" in str(err.value) and "link_template" in str(err.value)


def test_the_link_template_may_name_the_gateway_the_transaction_and_the_url() -> None:
    link = fill_link("{url}/sdk/{gateway}/{transaction_id}", gateway="g", transaction_id="TRX_1", url="http://h")
    assert link == "http://h/sdk/g/TRX_1"
