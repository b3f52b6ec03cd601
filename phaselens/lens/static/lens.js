/* Shared helpers of the Lens pages. Every string from the data goes into the
   page as text (textContent, attributes), never as markup: class names may hold
   any characters. No network: the data is the global LENS_DATA from data.js. */
"use strict";

const Lens = (() => {
  const data = window.LENS_DATA || null;

  /** Create an element: attrs are properties (text -> textContent), children are nodes or strings. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of [].concat(children || [])) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmt(value) {
    if (typeof value !== "number" || !isFinite(value)) return "–";
    const abs = Math.abs(value);
    return abs !== 0 && (abs >= 1e5 || abs < 1e-3) ? value.toExponential(2) : value.toFixed(abs >= 100 ? 1 : 3);
  }

  function targetHref(name) {
    return "target.html?id=" + encodeURIComponent(name);
  }

  /** The kind of a target with its layer: "class", "channel conv2". */
  function group(t) {
    return t.layer ? t.kind + " " + t.layer : t.kind;
  }

  function byName(name) {
    return data ? data.targets.find((t) => t.name === name) || null : null;
  }

  /** Session storage that tolerates browsers refusing it (some file:// setups). */
  const session = {
    get(key) {
      try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
    },
    set(key, value) {
      try { window.sessionStorage.setItem(key, value); } catch (e) { /* not kept: fine */ }
    },
  };

  /** Mark images that fail to load, so a missing file shows as such. */
  function watchImage(img) {
    img.addEventListener("error", () => img.classList.add("broken"));
    return img;
  }

  function summary() {
    if (!data) return "";
    const s = data.settings || {};
    const parts = [data.targets.length + " of " + Math.max(data.planned || 0, data.targets.length) + " targets"];
    if (s.method) parts.push(s.method + ", " + s.steps + " steps");
    if (s.image_size) parts.push(s.image_size.join(" × ") + " px");
    if (s.facets > 1) parts.push(s.facets + " facets");
    return parts.join(" · ");
  }

  function showModel(node) {
    if (data && node) node.textContent = data.model || "";
  }

  function missingData(where) {
    where.hidden = false;
    where.textContent = "No data.js next to this page: build the site with `phaselens lens --out DIR --site-only`.";
  }

  /** "1 important concept", "3 important concepts". */
  function count(n, what) {
    return n + " " + what + (n === 1 ? "" : "s");
  }

  /** Load pages/NAME.js (one target's details) with a script tag, which works from file://. */
  function loadPage(name, done) {
    const script = document.createElement("script");
    script.src = "pages/" + encodeURIComponent(name) + ".js";
    script.onload = () => done(window.LENS_PAGE || null);
    script.onerror = () => done(null);
    document.head.append(script);
  }

  return { data, el, fmt, targetHref, group, byName, session, watchImage, summary, showModel, missingData, loadPage, count };
})();
