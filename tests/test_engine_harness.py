"""The private engine really runs containers: the base every engine test stands on."""

import pytest

from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.engine


def test_private_engine_runs_a_crashing_container(clean_engine: PrivateEngine) -> None:
    c = clean_engine.run("sh", "-c", "exit 3")
    result = c.wait(timeout=30)
    assert result["StatusCode"] == 3
    assert clean_engine.url.startswith("unix:///tmp/")
