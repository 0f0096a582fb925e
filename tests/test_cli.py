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


def test_user_error_is_one_sentence_and_debug_keeps_the_traceback(tmp_path):
    cmd = [sys.executable, "-m", "experiments.cli", "data", "stats", str(tmp_path / "missing")]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("transcend data: error: ") and "missing" in out.stderr
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    import experiments.cli as cli

    monkeypatch.setitem(cli.COMMANDS, ("report",), f"{__name__}:_interrupted")
    assert cli.main(["report", "x"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err


def test_broken_pipe_when_the_reader_leaves_is_not_an_error(tmp_path):
    script = ("import sys; sys.argv=['transcend']; from experiments import cli; "
              "cli.COMMANDS[('spam',)] = 'tests.test_cli:_spam'; sys.exit(cli.main(['spam']))")
    proc = subprocess.run(f"{sys.executable} -c \"{script}\" | head -n 2", shell=True, capture_output=True, text=True)
    assert proc.stdout.splitlines() == ["line 0", "line 1"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def _spam(argv):
    for i in range(1_000_000):
        print(f"line {i}")


def _interrupted(argv):
    raise KeyboardInterrupt
