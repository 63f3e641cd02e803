"""The module keeps freed memory for a second before the allocator returns it to the OS
(mimalloc's purge delay, 10 ms by default), unless the user's environment sets the delay."""
import os
import subprocess
import sys

import pytest

NAMES = ("MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY")


def purge_delay(**env):
    """The delay the module runs with in a fresh interpreter, given `env` over the current one
    without mimalloc's two names for the option."""
    base = {k: v for k, v in os.environ.items() if k not in NAMES}
    code = "import simcal; print(simcal._simcal.allocator_purge_delay())"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, check=True, capture_output=True, text=True)
    return int(out.stdout)


def test_freed_memory_is_kept_for_a_second():
    assert purge_delay() == 1000


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", ["0", "25", "10"])
def test_the_users_setting_wins(name, value):
    # Read back through the option's index: a wrong index would not see the user's value.
    assert purge_delay(**{name: value}) == int(value)
