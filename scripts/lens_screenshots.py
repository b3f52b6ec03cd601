"""Screenshots of a Lens site for the docs: its index and one target page, in headless Chromium.

Usage: python scripts/lens_screenshots.py phaselens-demo/zoo_cnn docs [--target NAME]
       python scripts/lens_screenshots.py phaselens-demo/zoo_parts docs --concepts

Needs chromium, chromium-driver and selenium (scripts/install_test_deps.sh). Writes
OUT/lens_index.png and OUT/lens_target.png; the target page is shot at its full height. With
--concepts (a lens made with --concepts): OUT/lens_concepts_index.jpg and OUT/lens_concepts.jpg, and
the same on a phone-sized window (390 px wide) as *_phone.jpg, and OUT/lens_concepts_sections.jpg
(the strategy and concept sections alone, for the README).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("site", type=Path, help="a Lens output folder (holding site/index.html) or the site folder")
    p.add_argument("out", type=Path, help="folder for lens_index.png and lens_target.png")
    p.add_argument("--target", default=None, help="target folder name (default: the sixth, or the last)")
    p.add_argument("--concepts", action="store_true", help="a concept lens: concept page names, and phone shots")
    args = p.parse_args(argv)
    site = args.site / "site" if (args.site / "site" / "index.html").exists() else args.site
    if not (site / "index.html").exists():
        sys.exit(f"error: no index.html in {args.site} or {args.site / 'site'}: give a Lens output folder")
    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        sys.exit("error: chromium and chromedriver are needed: run scripts/install_test_deps.sh")

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def settle() -> None:  # every image loaded (or failed) before the shot
        d.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager');")
        WebDriverWait(d, 30).until(lambda d: d.execute_script("return [...document.images].every(i => i.complete)"))

    def fit_height(width: int = 1280) -> None:  # the window's chrome takes part of its height: grow to fit
        for _ in range(3):
            settle()
            page, view = d.execute_script("return [document.documentElement.scrollHeight, window.innerHeight]")
            if page <= view:
                return
            d.set_window_size(width, d.get_window_size()["height"] + page - view)

    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(driver_path), options=options)
    names = ("lens_concepts_index", "lens_concepts") if args.concepts else ("lens_index", "lens_target")
    widths = (1280, 390) if args.concepts else (1280,)
    try:
        d.get((site / "index.html").resolve().as_uri())
        cards = [e.get_attribute("data-name") for e in d.find_elements(By.CSS_SELECTOR, "#grid .card")]
        if not cards:
            sys.exit(f"error: the index in {site} lists no targets")
        target = args.target or cards[min(5, len(cards) - 1)]
        args.out.mkdir(parents=True, exist_ok=True)
        wrote = []
        for width in widths:
            suffix = "" if width == 1280 else "_phone"
            for name, page in zip(names, ("index.html", f"target.html?id={target}")):
                d.set_window_size(width, 900)
                base, _, query = page.partition("?")
                d.get((site / base).resolve().as_uri() + (f"?{query}" if query else ""))
                fit_height(width)
                if args.concepts and base == "target.html":  # show what a reader's hover and click show
                    for selector in ("#strategy svg circle", "#concepts .crops-toggle"):
                        found = d.find_elements(By.CSS_SELECTOR, selector)
                        if found:
                            d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click'))", found[0])
                    fit_height(width)
                if args.concepts and base == "target.html" and width == 1280:  # the README's picture
                    parts = [
                        Image.open(io.BytesIO(d.find_element(By.ID, i).screenshot_as_png)).convert("RGB")
                        for i in ("strategy", "concepts")
                    ]
                    both = Image.new("RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white")
                    both.paste(parts[0], (0, 0))
                    both.paste(parts[1], (0, parts[0].height))
                    both.save(args.out / "lens_concepts_sections.jpg", quality=85, optimize=True)
                    wrote.append("lens_concepts_sections.jpg")
                if args.concepts:  # tall pages of many images: JPEG keeps the docs light
                    shot = Image.open(io.BytesIO(d.get_screenshot_as_png())).convert("RGB")
                    shot.save(args.out / f"{name}{suffix}.jpg", quality=85, optimize=True)
                    wrote.append(f"{name}{suffix}.jpg")
                else:
                    d.save_screenshot(str(args.out / f"{name}{suffix}.png"))
                    wrote.append(f"{name}{suffix}.png")
    finally:
        d.quit()
    print(f"wrote {', '.join(wrote)} in {args.out} ({target})")


if __name__ == "__main__":
    main()
