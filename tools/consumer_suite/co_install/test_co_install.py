"""co_install.py where pip has an official wheel of the release: inside a
root filesystem whose CPython the official wheels support (run-suite.sh
passes the wheel as MLMD_WHEEL and the official requirement as
MLMD_OFFICIAL, e.g. ml-metadata==1.14.0)."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_next_to_the_official_wheel():
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "co_install.py"), "--wheel", os.environ["MLMD_WHEEL"],
         "--official", os.environ["MLMD_OFFICIAL"]],
        capture_output=True, text=True, timeout=900)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report.get("applicable"), report
    assert done.returncode == 0, report.get("verdict") or report.get("error") or done.stderr[-2000:]
    print(report["verdict"]["detail"])
