"""The module keeps freed memory for 10 s before the allocator returns it to the OS (mimalloc's
purge delay, 1 s by default, arenas alike), unless the user's environment
sets either option."""
import os
import subprocess
import sys

import pytest

NAMES = ("MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY", "MIMALLOC_ARENA_PURGE_MULT")


def options(**env):
    """(purge delay, arena multiplier) in a fresh interpreter, given `env` over the current
    environment without mimalloc's names for them."""
    base = {k: v for k, v in os.environ.items() if k not in NAMES}
    code = "import simcal; print(*simcal._simcal.allocator_purge_options())"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, check=True, capture_output=True, text=True)
    return tuple(int(x) for x in out.stdout.split())


def test_freed_memory_is_kept_for_10_s():
    assert options() == (10_000, 1)


@pytest.mark.parametrize("value", ["0", "25", "1000"])
@pytest.mark.parametrize("name", NAMES[:2])
def test_the_users_delay_wins(name, value):
    # Read back through the option's index: a wrong index would not see the user's value.
    assert options(**{name: value}) == (int(value), 1)


def test_the_users_arena_multiplier_wins():
    assert options(MIMALLOC_ARENA_PURGE_MULT="7") == (1000, 7)
