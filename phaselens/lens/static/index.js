/* The index: a grid of every complete target, with search, filter and sort.
   The view (search, filter, sort) lives in the URL hash, so the back button and
   links keep it; the order shown is saved for the target pages' previous/next. */
"use strict";

(() => {
  const { data, el, fmt, targetHref, group } = Lens;
  const grid = document.getElementById("grid");
  const search = document.getElementById("search");
  const sort = document.getElementById("sort");
  const groups = document.getElementById("group");
  const size = document.getElementById("size");
  const empty = document.getElementById("empty");
  const summaryNode = document.getElementById("summary");

  if (!data) {
    Lens.missingData(empty);
    return;
  }
  document.title = (data.title || "Lens") + " · " + data.targets.length + " targets";
  document.getElementById("title").textContent = data.title || "Lens";
  Lens.showModel(document.getElementById("model"));

  const kinds = [...new Set(data.targets.map(group))];
  if (kinds.length > 1) {
    groups.append(el("option", { value: "", text: "All kinds" }));
    for (const k of kinds) groups.append(el("option", { value: k, text: k }));
    groups.hidden = false;
  }

  // One card per target, made once; filtering only reorders and hides them.
  const cards = new Map();
  data.targets.forEach((t, position) => {
    const img = Lens.watchImage(el("img", { src: t.dir + t.thumb, alt: t.label, loading: "lazy", decoding: "async" }));
    const card = el("a", { className: "card", href: targetHref(t.name), title: t.label, dataset: { name: t.name } }, [
      el("div", { className: "thumb" }, img),
      el("div", { className: "label", text: t.label }),
      el("div", { className: "meta" }, [
        el("span", { text: "#" + t.index }),
        typeof t.concepts === "number"
          ? el("span", { className: "concept-count", title: "important concepts", text: Lens.count(t.concepts, "concept") })
          : "",
        el("span", { className: "score", text: fmt(t.score) }),
      ]),
    ]);
    cards.set(t.name, card);
    t._position = position;
    t._text = (t.label + " " + t.name + " " + t.key).toLowerCase();
  });

  function matches(t, query) {
    if (!query) return true;
    if (/^\d+$/.test(query) && t.index === Number(query)) return true;
    return query.split(/\s+/).every((word) => t._text.includes(word));
  }

  const sorters = {
    id: (a, b) => a._position - b._position,
    name: (a, b) => a.label.localeCompare(b.label) || a._position - b._position,
    "score-desc": (a, b) => b.score - a.score,
    "score-asc": (a, b) => a.score - b.score,
    "concepts-desc": (a, b) => (b.concepts ?? -1) - (a.concepts ?? -1) || a._position - b._position,
  };
  // With concepts (phaselens lens --concepts), the index can sort by the number of important ones.
  if (data.targets.some((t) => typeof t.concepts === "number")) {
    sort.append(el("option", { value: "concepts-desc", text: "Sort: concepts, most first" }));
  }

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    search.value = p.get("q") || "";
    if (sorters[p.get("sort")]) sort.value = p.get("sort");
    if (p.get("kind") && kinds.includes(p.get("kind"))) groups.value = p.get("kind");
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (search.value) p.set("q", search.value);
    if (sort.value !== "id") p.set("sort", sort.value);
    if (groups.value) p.set("kind", groups.value);
    const hash = p.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    Lens.session.set("lens-index-hash", hash);
  }

  function render() {
    const query = search.value.trim().toLowerCase();
    const shown = data.targets
      .filter((t) => (!groups.value || group(t) === groups.value) && matches(t, query))
      .sort(sorters[sort.value] || sorters.id);
    grid.replaceChildren(...shown.map((t) => cards.get(t.name)));
    empty.hidden = shown.length > 0;
    const total = Lens.summary();
    summaryNode.textContent = shown.length === data.targets.length ? total : shown.length + " shown · " + total;
    Lens.session.set("lens-order", JSON.stringify(shown.map((t) => t.name)));
    writeHash();
  }

  function resize() {
    document.documentElement.style.setProperty("--card", size.value + "px");
    Lens.session.set("lens-size", size.value);
  }

  readHash();
  size.value = Lens.session.get("lens-size") || size.value;
  resize();
  render();
  search.addEventListener("input", render);
  sort.addEventListener("change", render);
  groups.addEventListener("change", render);
  size.addEventListener("input", resize);
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== search) {
      e.preventDefault();
      search.focus();
    }
  });
})();
