/* Small SVG charts drawn with DOM calls (no library, no network): a scatter of points,
   horizontal bars, and a heat map. Each returns an <svg> that scales to its container. */
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // Ten colours told apart by most eyes (Okabe-Ito, then Tableau); grey is for the unimportant.
  const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#8c564b", "#f0c808",
    "#7f3c8d", "#11a579"];
  const GREY = "#b9b9b9";

  function svg(width, height, label) {
    const node = document.createElementNS(NS, "svg");
    node.setAttribute("viewBox", "0 0 " + width + " " + height);
    node.setAttribute("role", "img");
    node.setAttribute("aria-label", label);
    node.setAttribute("preserveAspectRatio", "xMidYMid meet");
    return node;
  }

  function shape(tag, attrs, title) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (title) {
      const t = document.createElementNS(NS, "title");
      t.textContent = title;
      node.append(t);
    }
    return node;
  }

  function color(i) {
    return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
  }

  /** Points [[x, y], ...] scaled into a square; opts.fill(i), opts.title(i), opts.radius. */
  function scatter(points, opts) {
    const size = 320, pad = 12, r = opts.radius || 5;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const lo = [Math.min(...xs), Math.min(...ys)], hi = [Math.max(...xs), Math.max(...ys)];
    const span = Math.max(hi[0] - lo[0], hi[1] - lo[1]) || 1;
    const node = svg(size, size, opts.label || points.length + " points");
    const circles = points.map((p, i) => {
      // Centred: the longer axis fills the square, the shorter one sits in its middle.
      const cx = pad + ((p[0] - lo[0] + (span - (hi[0] - lo[0])) / 2) / span) * (size - 2 * pad);
      const cy = size - pad - ((p[1] - lo[1] + (span - (hi[1] - lo[1])) / 2) / span) * (size - 2 * pad);
      const c = shape("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r, fill: opts.fill(i), class: "point" },
        opts.title ? opts.title(i) : "");
      c.dataset.index = String(i);
      node.append(c);
      if (opts.text) {
        const t = shape("text", { x: cx.toFixed(1), y: (cy + 4).toFixed(1), class: "point-label" });
        t.textContent = opts.text(i);
        node.append(t);
      }
      return c;
    });
    return { node, circles };
  }

  /** Horizontal bars of values (fractions, shown as %) with labels; opts.fill(i). */
  function bars(values, labels, opts) {
    const rowH = 22, labelW = 110, width = 420, valueW = 56;
    const node = svg(width, rowH * values.length + 8, opts.label || "bar chart");
    const span = Math.max(...values.map((v) => Math.abs(v)), 1e-9);
    const barW = width - labelW - valueW;
    values.forEach((v, i) => {
      const y = 4 + i * rowH;
      const w = (Math.abs(v) / span) * barW;
      const label = shape("text", { x: labelW - 6, y: y + 15, class: "bar-label", "text-anchor": "end" });
      label.textContent = labels[i];
      const bar = shape("rect", { x: labelW, y: y + 3, width: Math.max(w, 1).toFixed(1), height: rowH - 6,
        fill: opts.fill(i), class: v < 0 ? "bar negative" : "bar" }, labels[i] + ": " + (100 * v).toFixed(1) + " %");
      const value = shape("text", { x: labelW + Math.max(w, 1) + 4, y: y + 15, class: "bar-value" });
      value.textContent = (100 * v).toFixed(1) + " %";
      node.append(label, bar, value);
    });
    return node;
  }

  /** A square heat map of a matrix with values in [-1, 1] (cosines). */
  function heatmap(matrix, label) {
    const n = matrix.length, cell = 24, pad = 20;
    const node = svg(pad + n * cell, pad + n * cell, label || "heat map");
    matrix.forEach((row, i) => {
      const t = shape("text", { x: pad - 4, y: pad + i * cell + 16, class: "axis-label", "text-anchor": "end" });
      t.textContent = String(i);
      const u = shape("text", { x: pad + i * cell + cell / 2, y: pad - 6, class: "axis-label", "text-anchor": "middle" });
      u.textContent = String(i);
      node.append(t, u);
      row.forEach((v, j) => {
        const a = Math.max(0, Math.min(1, v));
        node.append(shape("rect", { x: pad + j * cell, y: pad + i * cell, width: cell - 1, height: cell - 1,
          fill: "rgba(0, 114, 178, " + a.toFixed(3) + ")", class: "cell" }, i + " · " + j + ": " + v.toFixed(2)));
      });
    });
    return node;
  }

  return { scatter, bars, heatmap, color, GREY };
})();
