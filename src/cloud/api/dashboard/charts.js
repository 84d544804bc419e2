// Line charts as inline SVG for the kiln cloud dashboard: no library, no network. One pure function,
// kilnCharts.lineChart(options) → an SVG string; the page puts it in the DOM.
(() => {
  'use strict';
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const W = 420;
  const H = 190;
  const M = { left: 46, right: 10, top: 14, bottom: 24 };
  const MINUTE = 60_000;
  const STEPS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360];

  /** The smallest "nice" number (1, 2, 2.5, 5 × 10^k) ≥ v. */
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v - 1e-12) return m * p;
    return 10 * p;
  }
  const hhmm = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });

  /**
   * options: { series: [{ key, label, color, dashed?, dx?, points: [{ x (ms), y, title }] }], xMin, xMax (ms),
   * yFormat (v → text), yCap (the most the y axis goes to, e.g. 100 for a percentage), markers: [{ x, label, color }], gapMs (a longer gap breaks the
   * line; default 90 s), label (aria-label) }. Every series is a <g class="series" data-series=key> with a
   * <path> and one <circle class="pt"> per point.
   */
  function lineChart(options) {
    const { series, xMin, xMax, yFormat = (v) => String(v), yCap = Infinity, markers = [], gapMs = 1.5 * MINUTE, label = 'chart' } = options;
    const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => Number.isFinite(y));
    // Four grid steps of a nice size, so every tick label is a round number.
    const yMax = Math.min(yCap, niceCeil((Math.max(...ys, 0) * 1.08) / 4) * 4);
    const pw = W - M.left - M.right;
    const ph = H - M.top - M.bottom;
    const sx = (x) => M.left + ((x - xMin) / Math.max(1, xMax - xMin)) * pw;
    const sy = (y) => M.top + ph - (y / yMax) * ph;
    const out = [`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">`];
    // Grid and y labels.
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      const y = sy(v).toFixed(1);
      out.push(
        `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}"/>`,
        `<text class="tick" x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(yFormat(v))}</text>`,
      );
    }
    // x ticks: whole minutes at a step giving at most 6 labels.
    const spanMin = (xMax - xMin) / MINUTE;
    const step = (STEPS_MIN.find((s) => spanMin / s <= 6) ?? 720) * MINUTE;
    for (let t = Math.ceil(xMin / step) * step; t <= xMax; t += step) {
      const x = sx(t).toFixed(1);
      const anchor = sx(t) > W - M.right - 14 ? 'end' : 'middle';
      out.push(
        `<line class="axis" x1="${x}" x2="${x}" y1="${M.top + ph}" y2="${M.top + ph + 4}"/>`,
        `<text class="tick" x="${x}" y="${H - 6}" text-anchor="${anchor}">${hhmm(t)}</text>`,
      );
    }
    out.push(`<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}"/>`);
    // Markers (deployment events).
    markers.forEach((m, i) => {
      if (m.x < xMin || m.x > xMax) return;
      const x = sx(m.x).toFixed(1);
      // Labels right of the line, or left of it near the right edge; alternate rows so close ones stay legible.
      const left = sx(m.x) > M.left + pw * 0.7;
      out.push(
        `<g class="marker"><line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="${esc(m.color || '#6b7280')}"/><text x="${x}" y="${M.top + 9 + (i % 2) * 11}" dx="${left ? -3 : 3}" text-anchor="${left ? 'end' : 'start'}" fill="${esc(m.color || '#6b7280')}">${esc(m.label)}</text></g>`,
      );
    });
    // Series: a path broken at gaps, and a circle per point.
    for (const s of series) {
      const pts = s.points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
      // `dx` (px) dodges series sideways so that equal values (the same p95 bucket) stay visible.
      const px = (p) => (sx(p.x) + (s.dx || 0)).toFixed(1);
      let d = '';
      pts.forEach((p, i) => {
        const cmd = i > 0 && p.x - pts[i - 1].x <= gapMs ? 'L' : 'M';
        d += `${cmd}${px(p)},${sy(p.y).toFixed(1)}`;
      });
      out.push(`<g class="series${s.dashed ? ' dashed' : ''}" data-series="${esc(s.key)}">`);
      if (d) out.push(`<path d="${d}" stroke="${esc(s.color)}"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`);
      for (const p of pts)
        out.push(
          `<circle class="pt" cx="${px(p)}" cy="${sy(p.y).toFixed(1)}" r="${s.dashed ? 2 : 3}" fill="${s.dashed ? '#fff' : esc(s.color)}" stroke="${esc(s.color)}"><title>${esc(p.title)}</title></circle>`,
        );
      out.push('</g>');
    }
    out.push('</svg>');
    return out.join('');
  }

  window.kilnCharts = Object.freeze({ lineChart, niceCeil });
})();
