"""maml_strategy.cli: exit status 2, one trailing ``error:`` line, defaults in --help, quiet third parties."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import warnings

import pytest

from maml_strategy.cli import (
    error,
    iso_date,
    make_parser,
    positive_float,
    positive_int,
    quiet_third_party,
    run_main,
)
from maml_strategy.errors import DataError
from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def _restore_yfinance_logger():
    log = logging.getLogger("yfinance")
    saved = (log.level, log.propagate, list(log.handlers))
    yield
    log.level, log.propagate, log.handlers[:] = saved[0], saved[1], saved[2]


def _parser():
    ap = make_parser("Demo script.\n\n  keep this indent")
    ap.add_argument("--seeds", type=positive_int, default=5, help="number of seeds")
    ap.add_argument("--lr", type=positive_float, default=0.01)
    ap.add_argument("--start", type=iso_date, default="2008-01-01")
    ap.add_argument("--flag", action="store_true")
    return ap


def _main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.start > "2030-01-01":
        error("must be before 2030-01-01", flag="--start")
    if args.seeds == 13:
        raise DataError("no data for 'NOPE'.\n  Tried:\n  - ./data\nFix: pass path=...")
    return 0


def _err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_help_shows_every_default_and_keeps_description(capsys) -> None:
    assert run_main(_main, ["--help"]) == 0
    out = capsys.readouterr().out
    for default in ("(default: 5)", "(default: 0.01)", "(default: 2008-01-01)", "(default: False)"):
        assert default in out
    assert "\n  keep this indent" in out


@pytest.mark.parametrize(
    "argv,flag",
    [(["--seeds", "0"], "--seeds"), (["--seeds", "x"], "--seeds"), (["--lr", "-1"], "--lr"),
     (["--start", "2008-13-01"], "--start"), (["--nope"], "--nope")],
)
def test_argparse_errors_exit_2_with_one_last_error_line(capsys, argv, flag) -> None:
    assert run_main(_main, argv) == 2
    lines = _err_lines(capsys)
    assert lines[-1].startswith("error: ") and flag in lines[-1]
    assert sum(line.startswith("error") or ": error:" in line for line in lines) == 1


def test_error_names_the_flag(capsys) -> None:
    assert run_main(_main, ["--start", "2031-01-01"]) == 2
    assert _err_lines(capsys) == ["error: --start: must be before 2030-01-01"]


def test_data_error_is_one_line_without_traceback(capsys) -> None:
    assert run_main(_main, ["--seeds", "13"]) == 2
    assert _err_lines(capsys) == ["error: no data for 'NOPE'. Tried: - ./data Fix: pass path=..."]


def test_ok_and_non_int_results() -> None:
    assert run_main(_main, []) == 0
    assert run_main(lambda argv: {"summary": 1}, []) == 0


def test_bugs_are_not_swallowed() -> None:
    def buggy(argv=None):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_main(buggy, [], stream=io.StringIO())


def test_types() -> None:
    assert positive_int("3") == 3 and iso_date("2008-1-2") == "2008-01-02" and positive_float("1e-3") == 0.001


def test_quiet_third_party_silences_yfinance_and_pandas_deprecations(capsys) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        logging.getLogger("yfinance").error("1 Failed download: ['NOPE']")
        warnings.warn_explicit("inplace is deprecated", DeprecationWarning, "multi.py", 220, module="yfinance.multi")
        warnings.warn_explicit("ours", UserWarning, "x.py", 1, module="maml_strategy.data.validate")
    assert [str(w.message) for w in caught] == ["ours"]
    assert "Failed download" not in capsys.readouterr().err


def test_cli_module_imports_nothing_heavy() -> None:
    code = "import sys, maml_strategy.cli; print([m for m in ('torch', 'backtrader', 'pandas') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"
