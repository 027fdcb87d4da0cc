import pytest

from tests.live import LiveStack


@pytest.fixture
def live(tmp_path):
    stack = LiveStack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()
