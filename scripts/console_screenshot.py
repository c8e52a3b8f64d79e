"""Take the picture of the web console on its documentation page: docs/console.png.

    python scripts/console_screenshot.py [--out docs/console.png]

In a private TEAL_HOME on a free port: deploys examples/blog as blog-dev and
a version 2 as blog-dev-2, switches the domain to blog-dev-2, sends some
requests to both, then shows the app's page in Debian's headless chromium
(through Playwright) and saves it. The gateway is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Teal:
    """The CLI in a child process, against the private local cloud."""

    def __init__(self, home: Path, port: int, project: Path) -> None:
        self.project = project
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        self.env.update(TEAL_HOME=str(home), TEAL_LOCAL_PORT=str(port))

    def __call__(self, *args: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "teal", *args, "--project", str(self.project), "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"teal {' '.join(args)} failed:\n{done.stderr}")
        answer: dict[str, object] = json.loads(done.stdout)
        return answer


def send(url: str, count: int) -> None:
    for _ in range(count):
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()


def prepare(teal: Teal) -> str:
    """The deployed blog, a switch in its history, some traffic; the console's URL."""
    base = teal("deploy")
    app = teal.project / "app.py"
    app.write_text(app.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    green = teal("deploy", "--extra", "2")
    teal("switch", "--to", "2")
    domain = base["domain"]
    assert isinstance(domain, dict)
    send(str(domain["url"]) + "posts", 120)
    send(str(base["endpoint"]) + "health", 40)
    send(str(green["endpoint"]) + "posts/1", 20)
    time.sleep(1.5)  # the gateway writes its traffic numbers once a second
    return str(teal("console")["url"])


def screenshot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 860})
        page.goto(url)
        page.get_by_role("link", name="blog", exact=True).first.click()
        page.wait_for_selector("table.environments")
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "console.png")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="teal-console-") as scratch:
        project = Path(scratch) / "blog"
        shutil.copytree(REPO / "examples" / "blog", project)
        teal = Teal(Path(scratch) / "home", free_port(), project)
        try:
            screenshot(prepare(teal), args.out)
        finally:
            subprocess.run(
                [sys.executable, "-m", "teal", "local", "stop"],
                env=teal.env,
                capture_output=True,
                check=False,
            )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
