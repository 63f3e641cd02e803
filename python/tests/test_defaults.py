"""Python's defaults are the library's, which the CLI's help shows too: each is defined once."""

import inspect
import re
import subprocess

import simcal


def help_defaults(simcal_bin, command):
    """Each flag's `[default: …]` in `simcal COMMAND --help` (one line per flag, or a block)."""
    text = subprocess.run([simcal_bin, command, "--help"], check=True, capture_output=True, text=True).stdout
    blocks, flag = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s+(?:-\w, )?--([a-z-]+)", line)
        if m:
            flag = m.group(1).replace("-", "_")
            blocks[flag] = ""
        if flag:
            blocks[flag] += line + "\n"
    out = {}
    for flag, body in blocks.items():
        m = re.search(r"\[default: ([^\]]+)\]", body)
        if m:
            out[flag] = m.group(1)
    return out


def same(python_default, cli_default):
    if isinstance(python_default, (tuple, list)):
        return len(python_default) == 2 and all(same(p, c) for p, c in zip(python_default, cli_default.split(":")))
    if isinstance(python_default, (int, float)) and not isinstance(python_default, bool):
        return float(python_default) == float(cli_default)
    return str(python_default) == cli_default


def test_fit_drift_fuse_and_score_defaults_are_the_clis(simcal_bin):
    checked = 0
    for function, command, names in [
        (simcal.fit, "fit", ["method", "folds", "unit", "fwer", "bootstrap", "seed", "rel_level", "min_pairs",
                             "min_relevant", "abstain", "certified_by"]),
        (simcal.drift, "drift", ["max_ks", "max_precision_drop", "min_pairs", "significance"]),
        (simcal.fuse, "fuse", ["method", "k", "rrf_k"]),
        (simcal.score, "score", ["k", "metric", "backend", "precision", "zero_vectors", "rel_level"]),
        (simcal.compare, "compare", ["test", "max_p", "permutations", "resamples", "level", "seed", "correction",
                                     "rel_level", "target_precision"]),
    ]:
        cli = help_defaults(simcal_bin, command)
        params = inspect.signature(function).parameters
        for name in names:
            assert name in cli, f"{command} --{name}: no default in the help"
            assert same(params[name].default, cli[name]), f"{function.__name__}({name}={params[name].default!r}) vs {cli[name]}"
            checked += 1
    assert checked == 33
    # A default changed in the library would show here and in the help alike.
    assert inspect.signature(simcal.fit).parameters["target_precision"].default == (0.9,)
