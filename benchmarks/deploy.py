"""Local cloud: seconds of ``teal deploy`` (create), a no-op redeploy and ``teal plan``.

For each size, a project is generated whose app is ``generated_app.build_app``
(the app ``benchmarks/plan.py`` analyzes) with every route in one function,
and the CLI runs in a subprocess, as a user runs it, against a private
temporary ``TEAL_HOME`` and a free gateway port:

1. ``teal deploy --yes``   creates the stack;
2. ``teal deploy --yes``   again, nothing changed (a no-op);
3. ``teal plan``           after adding one route to the app;
4. ``teal deploy --yes``   of that route (an update in place);
5. ``teal delete --yes``   the stack and everything in it.

Each step is run once per size; the gateway the deploys started is stopped
at the end. Targets: 5,000 routes created in 30 s or less, the 5,000 ÷ 1,000
create time 6 or less, plan at 5,000 (+1) in 2 s or less.

    python benchmarks/deploy.py [--routes 10,1000,5000] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loopback import free_port

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "generated_app.py"
DEFAULT_SIZES = (10, 1000, 5000)
TOML = """\
[app]
name = "bench"
entry = "app:app"
"""
STEPS = ("create", "no-op", "plan +1", "deploy +1", "delete")


def write_app(project: Path, routes: int) -> None:
    """The benchmark's app with ``routes`` routes, every one in the same function."""
    (project / "app.py").write_text(
        f"from generated_app import build_app\n\napp = build_app({routes}, functions=1)\n"
    )


@dataclass
class Sandbox:
    """A generated project and a private local cloud to run the CLI against."""

    root: Path
    port: int

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        env.update(TEAL_HOME=str(self.root / "teal-home"), TEAL_LOCAL_PORT=str(self.port))
        return env

    def create_project(self, routes: int) -> None:
        self.project.mkdir(parents=True)
        (self.project / "teal.toml").write_text(TOML)
        shutil.copy(GENERATOR, self.project / GENERATOR.name)
        write_app(self.project, routes)

    def teal(self, *args: str, timeout: float) -> float:
        """Run the CLI; its wall-clock seconds, or an error naming what failed."""
        command = [sys.executable, "-m", "teal", *args, "--project", str(self.project)]
        start = time.perf_counter()
        done = subprocess.run(
            command,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(
                f"teal {' '.join(args)} exited {done.returncode}:\n{done.stderr}{done.stdout}"
            )
        return seconds

    def stop_gateway(self) -> None:
        command = [sys.executable, "-m", "teal", "local", "stop"]
        subprocess.run(command, env=self.env, capture_output=True, timeout=60, check=False)


def measure(routes: int, timeout: float) -> dict[str, float]:
    """Seconds of each step for an app of ``routes`` routes."""
    with tempfile.TemporaryDirectory(prefix=f"teal-bench-{routes}-") as tmp:
        sandbox = Sandbox(Path(tmp), free_port())
        sandbox.create_project(routes)
        try:
            figures = {"create": sandbox.teal("deploy", "--yes", timeout=timeout)}
            figures["no-op"] = sandbox.teal("deploy", "--yes", timeout=timeout)
            write_app(sandbox.project, routes + 1)
            figures["plan +1"] = sandbox.teal("plan", timeout=timeout)
            figures["deploy +1"] = sandbox.teal("deploy", "--yes", timeout=timeout)
            figures["delete"] = sandbox.teal("delete", "--yes", timeout=timeout)
        finally:
            sandbox.stop_gateway()
        return figures


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive numbers, e.g. 10,1000")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--routes",
        type=parse_sizes,
        default=DEFAULT_SIZES,
        help="comma-separated app sizes (default: 10,1000,5000)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds allowed per CLI run (default: 900)"
    )
    options = parser.parse_args()
    results: dict[int, dict[str, float]] = {}
    print(f"{'routes':>6}  " + "  ".join(f"{step:>9}" for step in STEPS))
    for routes in options.routes:
        results[routes] = measure(routes, options.timeout)
        row = "  ".join(f"{results[routes][step]:>8.2f}s" for step in STEPS)
        print(f"{routes:>6}  {row}", flush=True)
    if 1000 in results and 5000 in results:
        ratio = results[5000]["create"] / results[1000]["create"]
        print(f"create 5000/1000 ratio: {ratio:.2f} (target 6 or less)")
    if 5000 in results:
        print(f"create at 5000 in 30 s or less: {_yes(results[5000]['create'] <= 30)}")
        print(f"plan at 5000 (+1) in 2 s or less: {_yes(results[5000]['plan +1'] <= 2)}")


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


if __name__ == "__main__":
    main()
