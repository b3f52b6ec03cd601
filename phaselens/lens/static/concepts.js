/* The concept sections of a class page (phaselens lens --concepts): strategy, concepts,
   importance, similarity, alignment, similar-concepts. Each is a <section> with that id.
   The data is page.concepts from pages/NAME.js (phaselens/lens/concept_pages.py). */
"use strict";

const LensConcepts = (() => {
  const { el, fmt, targetHref } = Lens;

  const pct = (v) => (typeof v === "number" && isFinite(v) ? (100 * v).toFixed(1) + " %" : "–");
  const conceptName = (c) => "concept " + c.index;

  function section(id, title, text, body) {
    return el("section", { id, className: "extra concept-section" }, [
      el("h2", { text: title }),
      text ? el("p", { className: "muted", text }) : "",
    ].concat(body));
  }

  /** The colour of concept i on this page: its own when important, else grey. */
  function painter(data) {
    const byIndex = new Map(data.concepts.map((c) => [c.index, c]));
    return (i) => (byIndex.get(i) && byIndex.get(i).important ? Charts.color(i) : Charts.GREY);
  }

  function strategy(data, paint) {
    const s = data.strategy;
    const preview = el("img", { id: "strategy-image", alt: "", hidden: true });
    const caption = el("figcaption", { id: "strategy-caption", className: "muted", text: "Point at a dot to see its image." });
    const show = (i) => {
      if (!s.thumbs[i]) return;
      preview.src = s.thumbs[i];
      preview.alt = s.names[i] || "image " + i;
      preview.hidden = false;
      caption.textContent = (s.names[i] || "image " + i) + " · most important: concept " + s.dominant[i];
    };
    const plot = Charts.scatter(s.points, {
      fill: (i) => paint(s.dominant[i]),
      title: (i) => (s.names[i] || "image " + i) + " · concept " + s.dominant[i],
      label: s.points.length + " images of the class, placed by their concept importances",
    });
    plot.circles.forEach((c, i) => {
      c.addEventListener("mouseenter", () => show(i));
      c.addEventListener("click", () => show(i)); // a tap on a phone
    });
    const legend = el("ul", { className: "legend" }, data.concepts.filter((c) => c.important).map((c) =>
      el("li", {}, [el("span", { className: "swatch", style: "background:" + Charts.color(c.index) }),
        conceptName(c) + " · " + Lens.count(c.images, "image")])));
    legend.append(el("li", {}, [el("span", { className: "swatch", style: "background:" + Charts.GREY }), "other concepts"]));
    const text = "Each dot is one image the model predicts as this class, placed by its concept importances (" +
      (s.method || "2-D embedding") + ") and coloured by its most important concept. A concept is important when it is " +
      "the most important one for enough images.";
    return section("strategy", "Strategies · " + Lens.count(data.important, "important concept"), text, [
      el("div", { className: "strategy" }, [el("div", { className: "chart" }, plot.node),
        el("figure", { className: "strategy-preview" }, [preview, caption])]),
      legend,
    ]);
  }

  function card(c) {
    const kids = [];
    if (c.image) {
      const plain = Lens.watchImage(el("img", { src: c.image, alt: conceptName(c), className: "plain", loading: "lazy" }));
      const rgba = Lens.watchImage(el("img", { src: c.rgba || c.image, alt: conceptName(c) + " with transparency",
        className: "rgba", loading: "lazy" }));
      const stage = el("div", { className: "concept-stage bg-checker" }, [rgba, plain]);
      const toggle = el("button", { type: "button", className: "alpha-toggle", "aria-pressed": "false", text: "Show transparency" });
      toggle.addEventListener("click", () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", String(on));
        toggle.textContent = on ? "Hide transparency" : "Show transparency";
        plain.style.opacity = on ? "0" : "1";
      });
      kids.push(stage, toggle);
    }
    kids.push(el("div", { className: "concept-head" }, [
      el("span", { className: "swatch", style: "background:" + (c.important ? Charts.color(c.index) : Charts.GREY) }),
      el("strong", { text: conceptName(c) }),
      el("span", { className: "importance", text: "importance " + pct(c.share) }),
    ]));
    if (c.crops.length) {
      const crops = el("div", { className: "crops", hidden: true }, c.crops.map((src, k) =>
        Lens.watchImage(el("img", { src, alt: conceptName(c) + ", top crop " + (k + 1), loading: "lazy" }))));
      const more = el("button", { type: "button", className: "crops-toggle", "aria-expanded": "false",
        text: "Top crops (" + c.crops.length + ")" });
      more.addEventListener("click", () => {
        crops.hidden = !crops.hidden;
        more.setAttribute("aria-expanded", String(!crops.hidden));
      });
      kids.push(more, crops);
    }
    if (c.maps.length) {
      kids.push(el("div", { className: "maps", title: "Where the concept is in a few images of the class" },
        c.maps.map((src, k) => Lens.watchImage(el("img", { src, alt: conceptName(c) + " in image " + k, loading: "lazy" })))));
    }
    return el("article", { className: "concept-card", dataset: { concept: String(c.index) } }, kids);
  }

  function importance(data, paint) {
    const values = data.concepts.map((c) => c.share || 0);
    const labels = data.concepts.map(conceptName);
    const fills = data.concepts.map((c) => paint(c.index));
    if (data.remainder !== null && data.remainder !== undefined) {
      values.push(data.remainder);
      labels.push("unexplained");
      fills.push("#e0e0e0");
    }
    const text = data.method === "gradient_input"
      ? "Each concept's share of the class logit (Gradient × Input, mean over the class images); unexplained: the bias and what the concepts do not reconstruct."
      : "Each concept's share of the total Sobol indices of the class logit.";
    return section("importance", "Concept importance (% of logit)", text, [
      el("div", { className: "chart bars" }, Charts.bars(values, labels, { fill: (i) => fills[i], label: "importance of each concept" })),
    ]);
  }

  function similarity(data, paint) {
    const body = [];
    const layout = data.similarity.layout || [];
    if (layout.length) {
      const plot = Charts.scatter(layout, { fill: paint, radius: 11, text: (i) => String(i),
        title: (i) => "concept " + i, label: "concepts placed by their similarity" });
      body.push(el("div", { className: "chart" }, plot.node));
    }
    if ((data.similarity.matrix || []).length) {
      body.push(el("div", { className: "chart" }, Charts.heatmap(data.similarity.matrix, "cosine similarity of the concepts")));
    }
    return section("similarity", "Concept similarity", "Cosine similarity of the concept vectors: near concepts are alike.",
      [el("div", { className: "charts" }, body)]);
  }

  function alignment(data) {
    const rows = data.alignment.map((a) => el("tr", {}, [
      el("th", { text: "concept " + a.concept }),
      el("td", {}, a.classes.map((k) => el("span", { className: "aligned" }, [
        k.name ? el("a", { href: targetHref(k.name), text: k.label }) : el("span", { text: k.label }),
        el("span", { className: "muted", text: " " + fmt(k.cosine) }),
      ]))),
    ]));
    return section("alignment", "Concept alignment with classes",
      "The five classes whose logit each concept raises most (cosine of the concept with the class's direction in the head).",
      [el("table", { className: "table alignment" }, rows)]);
  }

  function similar(data) {
    const items = data.similar.map((s) => el("a", { className: "similar", href: targetHref(s.other) }, [
      Lens.watchImage(el("img", { src: s.image, alt: s.label + ", concept " + s.other_concept, loading: "lazy" })),
      el("span", { text: "concept " + s.concept + " ≈ " + s.label + " · concept " + s.other_concept }),
      el("span", { className: "muted", text: "cosine " + fmt(s.cosine) }),
    ]));
    const text = items.length ? "Concepts of other classes close to this class's concepts." : "No concept of another class is close to these.";
    return section("similar-concepts", "Similar concepts", text, [el("div", { className: "similar-list" }, items)]);
  }

  /** Append the six concept sections of `data` (page.concepts) to `where`. */
  function render(where, data) {
    if (!data) return;
    const paint = painter(data);
    where.append(
      strategy(data, paint),
      section("concepts", "Concepts", "The class's concepts, most important first: a MACO image of each, its top crops, and where it is in a few images.",
        [el("div", { className: "concept-cards" }, data.concepts.map(card))]),
      importance(data, paint),
      similarity(data, paint),
      alignment(data),
      similar(data),
    );
  }

  return { render };
})();
