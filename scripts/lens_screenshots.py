"""Screenshots of a Lens site for the docs: its index and one target page, in headless Chromium.

Usage: python scripts/lens_screenshots.py phaselens-demo/zoo_cnn docs [--target NAME]

Needs chromium, chromium-driver and selenium (scripts/install_test_deps.sh). Writes
OUT/lens_index.png and OUT/lens_target.png; the target page is shot at its full height.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("site", type=Path, help="a Lens output folder (holding site/index.html) or the site folder")
    p.add_argument("out", type=Path, help="folder for lens_index.png and lens_target.png")
    p.add_argument("--target", default=None, help="target folder name (default: the sixth, or the last)")
    args = p.parse_args(argv)
    site = args.site / "site" if (args.site / "site" / "index.html").exists() else args.site
    if not (site / "index.html").exists():
        sys.exit(f"error: no index.html in {args.site} or {args.site / 'site'}: give a Lens output folder")
    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        sys.exit("error: chromium and chromedriver are needed: run scripts/install_test_deps.sh")

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def settle() -> None:  # every image loaded (or failed) before the shot
        d.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager');")
        WebDriverWait(d, 30).until(lambda d: d.execute_script("return [...document.images].every(i => i.complete)"))

    def fit_height() -> None:  # the window's chrome takes part of its height: grow until the page fits
        for _ in range(3):
            settle()
            page, view = d.execute_script("return [document.documentElement.scrollHeight, window.innerHeight]")
            if page <= view:
                return
            d.set_window_size(1280, d.get_window_size()["height"] + page - view)

    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        d.get((site / "index.html").resolve().as_uri())
        cards = [e.get_attribute("data-name") for e in d.find_elements(By.CSS_SELECTOR, "#grid .card")]
        if not cards:
            sys.exit(f"error: the index in {site} lists no targets")
        fit_height()
        args.out.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(args.out / "lens_index.png"))
        target = args.target or cards[min(5, len(cards) - 1)]
        d.set_window_size(1280, 900)
        d.get((site / "target.html").resolve().as_uri() + f"?id={target}")
        fit_height()
        d.save_screenshot(str(args.out / "lens_target.png"))
    finally:
        d.quit()
    print(f"wrote {args.out / 'lens_index.png'} and {args.out / 'lens_target.png'} ({target})")


if __name__ == "__main__":
    main()
