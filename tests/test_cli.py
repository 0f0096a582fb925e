import subprocess
import sys

from experiments.cli import COMMANDS, main, resolve


def test_longest_command_wins_and_rest_is_passed_on():
    assert resolve(["data", "synth", "--games", "3"]) == ("experiments.synth.cli:main", ["--games", "3"])
    assert resolve(["data", "build", "--out", "x"]) == ("data_pipeline.cli:main", ["build", "--out", "x"])
    assert resolve(["train", "--config", "tiny"]) == ("jaxformer.train:main", ["--config", "tiny"])


def test_every_command_target_exists():
    import importlib

    for target in COMMANDS.values():
        module_name, func_name = target.split(":")
        assert callable(getattr(importlib.import_module(module_name), func_name)), target


def test_unknown_command_is_an_error_with_usage(capsys):
    assert main(["bogus"]) == 2
    assert "unknown command 'bogus'" in capsys.readouterr().err


def test_console_script_prints_usage():
    out = subprocess.run([sys.executable, "-m", "experiments.cli", "--help"], capture_output=True, text=True, check=True)
    assert "data build|stats|dump" in out.stdout
