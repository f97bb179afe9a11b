"""`lstmlab generate --temperature 0.2,0.5,1.0`: one labelled sample per temperature, as the
seeds print their "diversity" loop, each the text a run with that temperature alone writes."""

from __future__ import annotations

from pathlib import Path

import pytest

import lstmlab


@pytest.fixture(scope="module")
def run(tmp_path_factory, shakespeare_slice) -> Path:
    run = tmp_path_factory.mktemp("runs") / "chars"
    lstmlab.train(str(shakespeare_slice), run, max_steps=10, hidden_sizes=(32,), embed_dim=8, batch_size=8,
                  seq_len=32, eval_every=10, log=lambda s: None, show_progress=False)
    return run


def generate(cli, run: Path, *args: str) -> str:
    code, out, err = cli("generate", run, "--prompt", "ROMEO:", "--length", "60", "--seed", "7", *args)
    assert code == 0, err
    return out


def test_each_temperature_is_labelled_and_equals_its_own_run(cli, run):
    out = generate(cli, run, "--temperature", "0.2,0.5,1.0")
    expected = "".join(f"----- temperature {label} -----\n" + generate(cli, run, "--temperature", label)
                       for label in ("0.2", "0.5", "1.0"))
    assert out == expected
    texts = out.split("-----\n")[1:]
    assert len(set(texts)) == 3  # three temperatures, three different texts


def test_the_order_given_is_kept_and_greedy_may_be_one_of_them(cli, run):
    out = generate(cli, run, "--temperature", "1,0")
    assert out == ("----- temperature 1.0 -----\n" + generate(cli, run, "--temperature", "1")
                   + "----- temperature 0.0 -----\n" + generate(cli, run, "--temperature", "0"))


def test_with_num_samples_both_are_labelled(cli, run):
    out = generate(cli, run, "--temperature", "0.5,1.5", "--num-samples", "2")
    expected = ""
    for label in ("0.5", "1.5"):
        alone = generate(cli, run, "--temperature", label, "--num-samples", "2")
        assert alone.count("----- sample ") == 2
        expected += alone.replace("----- sample ", f"----- temperature {label}, sample ")
    assert out == expected


def test_one_value_keeps_todays_output(cli, run):
    out = generate(cli, run, "--temperature", "0.7")
    assert out == generate(cli, run)  # the default, 0.7
    assert out == lstmlab.load(run).generate("ROMEO:", length=60, temperature=0.7, seed=7) + "\n"
    assert "-----" not in out


@pytest.mark.parametrize("value", ["0.5,x", "-1", "=-1,2", "", "0.5,", "nan", "0.2,inf"])
def test_bad_temperatures_get_one_line(cli, run, value):
    flag = ["--temperature" + value] if value.startswith("=") else ["--temperature", value]
    code, out, err = cli("generate", run, "--length", "10", *flag)
    assert code == 2 and out == ""
    assert err.startswith("lstmlab generate: error: --temperature takes numbers >= 0"), err
    assert err.count("\n") == 1 and "Traceback" not in err
