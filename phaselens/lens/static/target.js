/* One target: the large visualization with its transparency overlay, facets,
   scores, settings, extra sections, and previous/next in the index's order. */
"use strict";

(() => {
  const { data, el, fmt, targetHref } = Lens;
  const missing = document.getElementById("missing");
  if (!data) {
    Lens.missingData(missing);
    return;
  }
  Lens.showModel(document.getElementById("model"));
  const backHash = Lens.session.get("lens-index-hash");
  if (backHash) document.getElementById("back").href = "index.html#" + backHash;

  const params = new URLSearchParams(location.search);
  const name = params.get("id") || decodeURIComponent(location.hash.slice(1));
  const found = Lens.byName(name) || (name ? null : data.targets[0]);
  if (!found) {
    missing.hidden = false;
    missing.textContent = "No target called “" + name + "” in this lens.";
    return;
  }
  // The index data is light; this target's details come from its own file.
  Lens.loadPage(found.name, (t) => {
    if (!t) {
      missing.hidden = false;
      missing.textContent = "No page data for “" + found.name + "”: rebuild the site with `phaselens lens --out DIR --site-only`.";
      return;
    }
    show(t);
  });

  function show(t) {
    document.getElementById("target").hidden = false;
    document.title = t.label + " · " + (data.title || "Lens");
    document.getElementById("name").textContent = t.label;
    const where = t.layer ? t.kind + " " + t.index + " of layer " + t.layer : t.kind + " " + t.index;
    document.getElementById("subtitle").textContent = where + " · " + t.key + " · score " + fmt(t.score);

    // Previous / next in the order the index last showed, else in id order.
    let order = data.targets.map((x) => x.name);
    try {
      const saved = JSON.parse(Lens.session.get("lens-order") || "null");
      if (Array.isArray(saved) && saved.includes(t.name)) order = saved;
    } catch (e) { /* keep id order */ }
    const at = order.indexOf(t.name);
    document.getElementById("position").textContent = at + 1 + " / " + order.length;
    function pagerLink(id, other) {
      const link = document.getElementById(id);
      if (other && Lens.byName(other)) {
        link.href = targetHref(other);
        link.title = Lens.byName(other).label;
      } else {
        link.classList.add("disabled");
        link.setAttribute("aria-disabled", "true");
        link.removeAttribute("href");
      }
    }
    pagerLink("prev", order[at - 1]);
    pagerLink("next", order[at + 1]);

    // The viewer: the plain image over its RGBA version; the slider fades the plain image out
    // (0: the image, 100: the transparency view), so its knob sits next to the label of what is shown.
    const stage = document.getElementById("stage");
    const plain = Lens.watchImage(document.getElementById("plain"));
    const rgba = Lens.watchImage(document.getElementById("rgba"));
    const mix = document.getElementById("mix");
    const toggle = document.getElementById("toggle");
    const bg = document.getElementById("bg");

    function applyMix() {
      plain.style.opacity = String(1 - mix.value / 100);
      const transparent = Number(mix.value) >= 50;
      toggle.setAttribute("aria-pressed", String(transparent));
      toggle.textContent = transparent ? "Hide transparency" : "Show transparency";
      stage.classList.toggle("showing-alpha", transparent);
    }
    toggle.addEventListener("click", () => {
      mix.value = Number(mix.value) >= 50 ? 0 : 100;
      applyMix();
    });
    mix.addEventListener("input", applyMix);
    bg.addEventListener("change", () => {
      stage.className = stage.className.replace(/\bbg-\w+/, "bg-" + bg.value);
    });

    function showFacet(i) {
      const f = t.facets[i];
      plain.src = t.dir + f.image;
      plain.alt = t.label + " (facet " + i + ")";
      rgba.src = t.dir + f.rgba;
      rgba.alt = t.label + " with transparency (facet " + i + ")";
      document.getElementById("file-image").href = t.dir + f.image;
      document.getElementById("file-image").textContent = f.image;
      document.getElementById("file-rgba").href = t.dir + f.rgba;
      document.getElementById("file-rgba").textContent = f.rgba;
      document.querySelectorAll("#facets .facet").forEach((node, j) => node.classList.toggle("active", j === i));
    }
    document.getElementById("file-manifest").href = t.dir + "manifest.json";

    if (t.facets.length > 1) {
      document.getElementById("facets-block").hidden = false;
      const strip = document.getElementById("facets");
      t.facets.forEach((f, i) => {
        strip.append(el("button", { className: "facet", type: "button", title: "seed " + f.seed, onclick: () => showFacet(i) }, [
          Lens.watchImage(el("img", { src: t.dir + f.image, alt: "facet " + i })),
          el("span", { text: "facet " + i + " · " + fmt(f.score) }),
        ]));
      });
    }
    showFacet(0);
    applyMix();

    // Scores and settings.
    const scores = document.getElementById("scores");
    const scoreWindow = t.score_window > 1 ? "mean of last " + t.score_window + " steps" : "last step";
    scores.append(el("tr", {}, [
      el("th", { text: "facet" }), el("th", { text: "seed" }),
      el("th", { text: "score", title: scoreWindow }), el("th", { text: "last step" }),
    ]));
    t.facets.forEach((f, i) => {
      scores.append(el("tr", {}, [
        el("td", { text: i }), el("td", { className: "mono", text: f.seed }),
        el("td", { text: fmt(f.score) }), el("td", { className: "muted", text: fmt(f.final_score) }),
      ]));
    });
    scores.after(el("p", { className: "note muted", text: "Score: the objective averaged over the crops of each step, " + scoreWindow + "." }));
    const settings = document.getElementById("settings");
    const rows = Object.assign({ target: t.key }, data.settings || {});
    if (t.seconds !== undefined) rows["seconds per target"] = t.seconds;
    if (t.batch !== undefined) rows["batch (targets)"] = t.batch;
    for (const [key, value] of Object.entries(rows)) {
      if (value === null || value === undefined || key === "title") continue;
      const text = Array.isArray(value) ? value.join(", ") : typeof value === "object" ? JSON.stringify(value) : String(value);
      settings.append(el("tr", {}, [el("th", { text: key }), el("td", { text })]));
    }

    drawTrace(document.getElementById("trace"), t.facets.map((f) => f.trace || []));

    // Extra sections: natural images now, concepts later; all share one shape.
    const sections = document.getElementById("sections");
    for (const s of t.sections || []) {
      const items = (s.items || []).map((item) =>
        el("figure", { className: "item", title: item.file || item.caption || "" }, [
          Lens.watchImage(el("img", { src: item.src, alt: item.caption || s.title, loading: "lazy" })),
          el("figcaption", {}, [
            el("span", { text: item.caption || "" }),
            item.score !== undefined ? el("span", { className: "score", text: fmt(item.score) }) : "",
          ]),
        ])
      );
      sections.append(el("section", { className: "extra", id: "section-" + s.id }, [
        el("h2", { text: s.title || s.id }),
        s.text ? el("p", { className: "muted", text: s.text }) : "",
        el("div", { className: "items" }, items),
      ]));
    }

    LensConcepts.render(document.getElementById("concept-sections"), t.concepts);
    if (t.concepts) document.getElementById("headline").textContent = Lens.count(t.concepts.important, "important concept");

    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("input, select, textarea")) return;
      const go = { ArrowLeft: "prev", ArrowRight: "next" }[e.key];
      if (go && document.getElementById(go).href) location.href = document.getElementById(go).href;
      if (e.key === "t") toggle.click();
    });
  }

  /** A small line chart of each facet's score over the steps, in SVG made with DOM calls. */
  function drawTrace(node, series) {
    const all = series.flat();
    if (!all.length) {
      node.textContent = "–";
      return;
    }
    const W = 320, H = 90, P = 6;
    const lo = Math.min(...all), hi = Math.max(...all);
    const span = hi - lo || 1;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "score from " + fmt(lo) + " to " + fmt(hi));
    series.forEach((values, i) => {
      const pts = values.map((v, j) => {
        const x = P + (j / Math.max(values.length - 1, 1)) * (W - 2 * P);
        const y = H - P - ((v - lo) / span) * (H - 2 * P);
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", pts.join(" "));
      line.setAttribute("class", "line line-" + (i % 4));
      svg.append(line);
    });
    node.append(svg, el("div", { className: "axis muted" }, [el("span", { text: fmt(lo) }), el("span", { text: "max " + fmt(hi) })]));
  }
})();
