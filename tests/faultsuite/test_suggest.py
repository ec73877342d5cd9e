from faultsuite.suggest import did_you_mean

NAMES = ["decode_worker", "decode_worker_hang", "prefill_worker", "frontend"]


def test_a_close_name_is_suggested():
    assert did_you_mean("frontedn", NAMES) == " (did you mean 'frontend'?)"


def test_two_close_names_are_both_suggested_best_first():
    assert did_you_mean("decode_worker_han", NAMES) == " (did you mean 'decode_worker_hang' or 'decode_worker'?)"


def test_nothing_close_suggests_nothing():
    assert did_you_mean("no-such-failure", NAMES) == ""
