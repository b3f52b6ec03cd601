"""The Lens site in real headless Chromium: no console errors, no broken
images, search narrows the grid, a target page opens, the transparency overlay
toggles, previous/next move, and a hostile class name stays text.

Needs Debian's chromium + chromium-driver and selenium: scripts/install_test_deps.sh.
Set PHASELENS_SCREENSHOTS=DIR to also save index and target screenshots there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lens_models import EVIL_NAME, tiny
from phaselens.lens import run_lens


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


CHROMIUM = _find("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
DRIVER = _find("/usr/bin/chromedriver", "chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="no chromium/chromedriver found: run scripts/install_test_deps.sh (apt chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def lens(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lens")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / "images" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((rng.random((30, 30, 3)) * 255).astype("uint8")).save(root / "images" / cls / f"{i}.png")
    run_lens(
        tiny(),
        root / "out",
        "class:all",
        batch=6,
        facets=2,
        steps=4,
        image_size=32,
        crops=2,
        images=root / "images",
        top_k=3,
        progress=False,
    )
    return root / "out"


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium missing: run scripts/install_test_deps.sh")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def broken_images(driver) -> list[str]:
    """Images that failed, after every image on the page has settled."""
    driver.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager');")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return [...document.images].every(i => !i.src || i.complete)")
    )
    return driver.execute_script(
        "return [...document.images].filter(i => i.src && (i.naturalWidth === 0 || i.classList.contains('broken')))"
        ".map(i => i.src)"
    )


def no_alert(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert  # noqa: B018 - reading it raises when no alert is open
    except NoAlertPresentException:
        return True
    return False


def visible_cards(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [c.get_attribute("data-name") for c in driver.find_elements(By.CSS_SELECTOR, "#grid .card")]


def test_index_and_target_pages(lens, browser) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get((lens / "site" / "index.html").as_uri())
    assert len(visible_cards(d)) == 6
    assert broken_images(d) == []
    assert errors(d) == []
    assert no_alert(d)
    labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#grid .card .label")]
    assert EVIL_NAME in labels  # shown as text, not run as markup
    shots = os.environ.get("PHASELENS_SCREENSHOTS")
    if shots:
        d.save_screenshot(str(Path(shots) / "lens_index.png"))

    search = d.find_element(By.ID, "search")
    search.send_keys("blue")
    assert [n.split("_", 2)[-1] for n in visible_cards(d)] == ["blue_disc"]
    assert "1 shown" in d.find_element(By.ID, "summary").text
    search.clear()
    search.send_keys("4")  # an id
    assert visible_cards(d) == ["class_0004_stripes"]
    search.clear()
    search.send_keys("zzz-nothing")
    assert visible_cards(d) == [] and d.find_element(By.ID, "empty").is_displayed()
    d.execute_script("const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input'));")
    assert len(visible_cards(d)) == 6

    d.find_element(By.CSS_SELECTOR, '#grid .card[data-name="class_0001_green"]').click()
    assert d.current_url.endswith("target.html?id=class_0001_green")
    assert d.find_element(By.ID, "name").text == "green"
    assert broken_images(d) == [] and errors(d) == []
    assert len(d.find_elements(By.CSS_SELECTOR, "#facets .facet")) == 2
    assert len(d.find_elements(By.CSS_SELECTOR, "#section-natural figure")) == 3

    toggle, plain = d.find_element(By.ID, "toggle"), d.find_element(By.ID, "plain")
    assert toggle.get_attribute("aria-pressed") == "false" and plain.value_of_css_property("opacity") == "1"
    mix = d.find_element(By.ID, "mix")
    assert mix.get_attribute("value") == "0"  # the knob at "Image" while the image is shown
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and plain.get_attribute("style") == "opacity: 0;"
    assert mix.get_attribute("value") == "100"  # ... and at "Transparency" while that is shown
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false" and plain.get_attribute("style") == "opacity: 1;"
    d.execute_script("const m = document.getElementById('mix'); m.value = 75; m.dispatchEvent(new Event('input'));")
    assert plain.get_attribute("style") == "opacity: 0.25;" and toggle.text == "Hide transparency"

    d.find_element(By.ID, "next").click()
    assert d.current_url.endswith("id=class_0002_script_alert_1_script_quotes_x")
    assert d.find_element(By.ID, "name").text == EVIL_NAME and no_alert(d)
    assert d.title.startswith(EVIL_NAME)
    if shots:
        d.save_screenshot(str(Path(shots) / "lens_target.png"))
    d.find_element(By.ID, "prev").click()
    assert d.current_url.endswith("id=class_0001_green")
    d.find_element(By.ID, "prev").click()
    assert d.current_url.endswith("id=class_0000_red")
    assert d.find_element(By.ID, "prev").get_attribute("aria-disabled") == "true"
    assert errors(d) == [] and no_alert(d)


def test_unknown_target_says_so(lens, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.get((lens / "site" / "target.html").as_uri() + "?id=%3Cb%3Enope")
    missing = browser.find_element(By.ID, "missing")
    assert missing.is_displayed() and "<b>nope" in missing.text
    assert errors(browser) == []


@pytest.fixture(scope="module")
def concept_lens(tmp_path_factory) -> Path:
    from phaselens import load_model

    out = tmp_path_factory.mktemp("concept_lens") / "out"
    run_lens(
        load_model("zoo:cnn"),
        out,
        "class:0-2",
        steps=4,
        crops=2,
        image_size=32,
        progress=False,
        concepts=dict(rank=3, per_class=10),
    )
    return out


def fetched(driver) -> list[str]:
    """Every resource the page loaded; all must be files of the site (no network)."""
    return driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name))"
    )


def test_concept_sections_of_a_class_page(concept_lens, browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    d = browser
    d.get((concept_lens / "site" / "index.html").as_uri())
    counts = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#grid .card .concept-count")]
    assert len(counts) == 3 and all(c.endswith((" concept", " concepts")) for c in counts)
    assert d.find_elements(By.CSS_SELECTOR, '#sort option[value="concepts-desc"]')
    d.execute_script(
        "const s = document.getElementById('sort'); s.value = 'concepts-desc'; s.dispatchEvent(new Event('change'));"
    )
    shown = [int(e.text.split()[0]) for e in d.find_elements(By.CSS_SELECTOR, "#grid .card .concept-count")]
    assert shown == sorted(shown, reverse=True)

    d.get((concept_lens / "site" / "target.html").as_uri() + "?id=class_0001_blue_square")
    for section in ("strategy", "concepts", "importance", "similarity", "alignment", "similar-concepts"):
        assert d.find_element(By.ID, section).is_displayed(), section
    page = json.loads(
        (concept_lens / "site" / "pages" / "class_0001_blue_square.js")
        .read_text()
        .split(" = ", 1)[1]
        .rstrip()
        .rstrip(";")
    )["concepts"]
    circles = d.find_elements(By.CSS_SELECTOR, "#strategy svg circle")
    assert len(circles) == page["images"] == 10
    important = {k["index"] for k in page["concepts"] if k["important"]}
    grey = [c for c, dom in zip(circles, page["strategy"]["dominant"]) if dom not in important]
    assert all(c.get_attribute("fill") == "#b9b9b9" for c in grey)
    n = page["important"]
    assert d.find_element(By.ID, "headline").text == f"{n} important concept" + ("" if n == 1 else "s")

    preview = d.find_element(By.ID, "strategy-image")
    assert not preview.is_displayed()
    ActionChains(d).move_to_element(circles[3]).perform()  # hover shows the image
    assert preview.is_displayed() and preview.get_attribute("src").endswith(
        page["strategy"]["thumbs"][3].split("/")[-1]
    )
    circles[7].click()  # a tap does too
    assert preview.get_attribute("src").endswith("images/7.jpg")

    cards = d.find_elements(By.CSS_SELECTOR, "#concepts .concept-card")
    assert [int(c.get_attribute("data-concept")) for c in cards] == [k["index"] for k in page["concepts"]]
    card = cards[0]
    crops = card.find_element(By.CSS_SELECTOR, ".crops")
    assert not crops.is_displayed()
    card.find_element(By.CSS_SELECTOR, ".crops-toggle").click()
    assert crops.is_displayed() and len(crops.find_elements(By.TAG_NAME, "img")) == 10
    plain = card.find_element(By.CSS_SELECTOR, "img.plain")
    toggle = card.find_element(By.CSS_SELECTOR, ".alpha-toggle")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and plain.get_attribute("style") == "opacity: 0;"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false" and plain.get_attribute("style") == "opacity: 1;"
    assert len(d.find_elements(By.CSS_SELECTOR, "#importance svg rect")) == 3 + 1  # and the unexplained rest
    assert len(d.find_elements(By.CSS_SELECTOR, "#similarity svg rect")) == 9
    assert broken_images(d) == [] and errors(d) == []
    assert all(url.startswith("file://") for url in fetched(d)), fetched(d)
    shots = os.environ.get("PHASELENS_SCREENSHOTS")
    if shots:
        d.save_screenshot(str(Path(shots) / "lens_concepts.png"))

    link = d.find_element(By.CSS_SELECTOR, "#alignment a")
    target = link.get_attribute("href").split("id=")[1]
    link.click()
    assert d.current_url.endswith("id=" + target) and d.find_element(By.ID, "strategy").is_displayed()
    assert errors(d) == []
