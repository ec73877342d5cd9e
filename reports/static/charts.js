/*
 * Charts of report.html and group_report.html, built with uPlot from the page's JSON bundle.
 *
 * A bundle (see reports/html.py, chart_bundle) is
 *   {span: [x0, x1], faults: [offset_s...], fault_labels: [text...],
 *    recovery: [start, end|null] | null, client_outage: [start, end|null] | null,
 *    outage: [start, end|null] | null,
 *    launch: [start, 0] | null, clock_origin: epoch seconds of time 0 | null,
 *    charts: {name: {kind: "points"|"steps"|"bars", x: [...], x_label, y_label, y2_label?,
 *                    series: [{label, color?, axis?: "y2", data: [...]}]}}}
 * and every element with data-chart="name" under the root gets that chart (its data-drawn
 * attribute then says how: points, steps or bars), or, when the chart is missing or holds no
 * value, the text of its data-empty attribute instead of a canvas. Each fault line carries its
 * label as text over the plot (a .fault-label element), so a printout or screenshot shows it;
 * so does each recovery band, as a labelled bar at the foot of the plot (a .band-label element:
 * .band-recovery for the process recovery, .band-client-outage for the client outage).
 * Nothing here logs to the console: a chart that cannot be drawn says so in the page.
 */
(function () {
  "use strict";

  var FAULT_COLOR = "rgba(214, 39, 40, 0.9)";
  var RECOVERY_FILL = "rgba(255, 165, 0, 0.14)";
  var OUTAGE_HATCH = "rgba(214, 39, 40, 0.22)";
  var CLIENT_OUTAGE_FILL = "rgba(214, 39, 40, 0.06)";
  var RECOVERED_FILL = "rgba(44, 160, 44, 0.07)";
  var LAUNCH_FILL = "rgba(127, 127, 127, 0.16)";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function note(el, text) {
    el.textContent = "";
    var p = document.createElement("p");
    p.className = "note";
    p.textContent = text;
    el.appendChild(p);
  }

  function isValue(v) {
    return v !== null && v !== undefined;
  }

  function hasData(spec) {
    if (!spec || !Array.isArray(spec.x) || spec.x.length === 0 || !Array.isArray(spec.series)) {
      return false;
    }
    return spec.series.some(function (s) {
      return Array.isArray(s.data) && s.data.length === spec.x.length && s.data.some(isValue);
    });
  }

  // A value for the legend; nothing at all where there is none (no placeholder dash).
  function fmt(v) {
    if (!isValue(v)) {
      return "";
    }
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(3);
  }

  // The part of the plot between offsets start and end (end null: to the right edge), or null.
  function band(u, start, end) {
    var b = u.bbox;
    var x0 = u.valToPos(start, "x", true);
    var x1 = isValue(end) ? u.valToPos(end, "x", true) : b.left + b.width;
    var left = Math.max(b.left, Math.min(x0, x1));
    var right = Math.min(b.left + b.width, Math.max(x0, x1));
    return right > left ? { left: left, right: right, top: b.top, height: b.height } : null;
  }

  // Diagonal lines across a band: the outage reads apart from the recovery window's fill.
  function hatch(ctx, r) {
    var step = 8 * (window.devicePixelRatio || 1);
    ctx.save();
    ctx.beginPath();
    ctx.rect(r.left, r.top, r.right - r.left, r.height);
    ctx.clip();
    ctx.strokeStyle = OUTAGE_HATCH;
    ctx.lineWidth = window.devicePixelRatio || 1;
    ctx.beginPath();
    for (var x = r.left - r.height; x < r.right; x += step) {
      ctx.moveTo(x, r.top + r.height);
      ctx.lineTo(x + r.height, r.top);
    }
    ctx.stroke();
    ctx.restore();
  }

  function fill(u, r, color) {
    u.ctx.save();
    u.ctx.fillStyle = color;
    u.ctx.fillRect(r.left, r.top, r.right - r.left, r.height);
    u.ctx.restore();
  }

  // Fault times as vertical lines over the plot; under the series, the launch band, the
  // Recovered window tinted, the client outage hatched in red and the process recovery
  // shaded in orange.
  function faultHooks(bundle) {
    var faults = bundle.faults || [];
    var recovery = bundle.recovery || null;
    var clientOutage = bundle.client_outage || null;
    var outage = bundle.outage || null;
    return {
      drawClear: [
        function (u) {
          var launch = bundle.launch ? band(u, bundle.launch[0], bundle.launch[1]) : null;
          if (launch) {
            fill(u, launch, LAUNCH_FILL);
          }
          var recovered = outage && isValue(outage[1]) ? band(u, outage[1], null) : null;
          if (recovered) {
            fill(u, recovered, RECOVERED_FILL);
          }
          var unserved = clientOutage ? band(u, clientOutage[0], clientOutage[1]) : null;
          if (unserved) {
            fill(u, unserved, CLIENT_OUTAGE_FILL);
            hatch(u.ctx, unserved);
          }
          var r = recovery ? band(u, recovery[0], recovery[1]) : null;
          if (r) {
            fill(u, r, RECOVERY_FILL);
          }
        },
      ],
      draw: [
        function (u) {
          labelOverlays(u, bundle);
        },
        function (u) {
          var b = u.bbox;
          u.ctx.save();
          u.ctx.strokeStyle = FAULT_COLOR;
          u.ctx.lineWidth = Math.max(1, 1.5 * (window.devicePixelRatio || 1));
          u.ctx.setLineDash([6, 4]);
          faults.forEach(function (offset) {
            var x = Math.round(u.valToPos(offset, "x", true)) + 0.5;
            if (x >= b.left && x <= b.left + b.width) {
              u.ctx.beginPath();
              u.ctx.moveTo(x, b.top);
              u.ctx.lineTo(x, b.top + b.height);
              u.ctx.stroke();
            }
          });
          u.ctx.restore();
        },
      ],
    };
  }

  function overlayLabel(u, className, text, x, top) {
    var label = document.createElement("div");
    label.className = className;
    label.textContent = text;
    label.style.left = Math.round(x) + "px";
    label.style.top = top + "px";
    u.over.appendChild(label);
  }

  // "3.4 s" from a band's start (or from the first fault) to its end; "not over by the end" without one.
  function lasting(from, end) {
    return isValue(end) ? (end - from).toFixed(1) + " s" : "not over by the end";
  }

  // A band as a labelled bar in its own lane at the foot of the plot, so the two recoveries
  // read apart even where they overlap. Nothing when the band is out of view.
  function bandLabel(u, className, text, span, lane) {
    var width = u.over.clientWidth;
    var x0 = Math.max(0, u.valToPos(span[0], "x"));
    var x1 = isValue(span[1]) ? Math.min(width, u.valToPos(span[1], "x")) : width;
    if (x1 - x0 < 1) {
      return;
    }
    var bar = document.createElement("div");
    bar.className = "band-label " + className;
    bar.textContent = text;
    bar.title = text;
    bar.style.left = Math.round(x0) + "px";
    bar.style.width = Math.max(1, Math.round(x1 - x0)) + "px";
    bar.style.top = u.over.clientHeight - 15 * (lane + 1) + "px";
    u.over.appendChild(bar);
  }

  // Text over the plot, in its own coordinates, redrawn with it (zoom): each fault's label at
  // the top of its line, staggered over three rows so that faults a moment apart stay
  // readable; the launch band's name at its foot; the process recovery and the client outage
  // as two labelled bars.
  function labelOverlays(u, bundle) {
    var old = u.over.querySelectorAll(".fault-label, .phase-label, .band-label");
    for (var i = 0; i < old.length; i++) {
      old[i].remove();
    }
    var width = u.over.clientWidth;
    var labels = bundle.fault_labels || [];
    (bundle.faults || []).forEach(function (offset, k) {
      var x = u.valToPos(offset, "x");
      if (labels[k] && x >= 0 && x <= width) {
        overlayLabel(u, "fault-label", labels[k], x + 3, 2 + (k % 3) * 14);
      }
    });
    if (bundle.launch) {
      var start = Math.max(0, u.valToPos(bundle.launch[0], "x"));
      if (u.valToPos(bundle.launch[1], "x") - start > 40) {
        overlayLabel(u, "phase-label", "launch and warm-up", start + 3, u.over.clientHeight - 16);
      }
    }
    var recovery = bundle.recovery;
    if (recovery && isValue(recovery[0])) {
      bandLabel(u, "band-recovery", "process recovery " + lasting(recovery[0], recovery[1]), recovery, 0);
    }
    var unserved = bundle.client_outage;
    var firstFault = (bundle.faults || [])[0];
    if (unserved && isValue(unserved[0]) && isValue(firstFault)) {
      bandLabel(u, "band-client-outage", "client outage " + lasting(firstFault, unserved[1]) + " from the fault", unserved, 1);
    }
  }

  // " at HH:MM:SS" (local time) of run time `v`, when the bundle knows the clock of time 0.
  function wallClock(origin, v) {
    if (!isValue(origin) || !isValue(v)) {
      return "";
    }
    return " at " + new Date((origin + v) * 1000).toTimeString().slice(0, 8);
  }

  // The full view is the run's span, not just this chart's data, so charts line up. A chart is
  // in full view until a drag zooms it, and again after a double-click (u.fcFull).
  function xRange(span) {
    return function (u, min, max) {
      if (u.fcFull !== false && span) {
        min = isValue(min) && isFinite(min) ? Math.min(min, span[0]) : span[0];
        max = isValue(max) && isFinite(max) ? Math.max(max, span[1]) : span[1];
      }
      if (!isValue(min) || !isValue(max) || !isFinite(min) || !isFinite(max)) {
        return [0, 1];
      }
      return max - min < 1e-9 ? [min - 0.5, max + 0.5] : [min, max];
    };
  }

  function yRange(u, min, max) {
    if (!isFinite(min) || !isFinite(max)) {
      return [0, 1];
    }
    var low = Math.min(0, min);
    var high = max > low ? max * 1.05 : low + 1;
    return [low, high];
  }

  function seriesOptions(spec, s, i, opts) {
    var color = s.color || PALETTE[i % PALETTE.length];
    var entry = {
      label: s.label,
      stroke: color,
      scale: s.axis === "y2" ? "y2" : "y",
      width: 1.5,
      spanGaps: false,
      value: function (u, v) {
        return fmt(v);
      },
    };
    if (spec.kind === "points") {
      entry.paths = function () {
        return null;
      };
      entry.points = { show: true, size: opts.pointSize || 4, width: 1, stroke: color, fill: color };
    } else if (spec.kind === "bars") {
      // Two bar series sit side by side on each second rather than on top of each other.
      entry.paths = uPlot.paths.bars({ size: [0.45, 40], align: i % 2 === 0 ? -1 : 1 });
      entry.fill = color;
      entry.points = { show: false };
    } else {
      // A sampled gauge holds its value until the next sample: steps, not a slope between them.
      entry.paths = uPlot.paths.stepped({ align: 1 });
      entry.points = { show: false };
    }
    return entry;
  }

  function makeChart(el, spec, bundle, opts, group) {
    var height = opts.height || 260;
    var width = Math.max(el.clientWidth || 0, 320);
    var data = [spec.x];
    var series = [
      {
        label: spec.x_label || "time (s)",
        value: function (u, v) {
          return fmt(v) + wallClock(bundle.clock_origin, v);
        },
      },
    ];
    var usesY2 = false;
    spec.series.forEach(function (s, i) {
      series.push(seriesOptions(spec, s, i, opts));
      data.push(s.data);
      usesY2 = usesY2 || s.axis === "y2";
    });
    var axes = [
      { label: spec.x_label || "time (s)", labelSize: 20, size: 36 },
      { label: spec.y_label || "", scale: "y", labelSize: 20 },
    ];
    var scales = { x: { time: false, range: xRange(bundle.span) }, y: { range: yRange } };
    if (usesY2) {
      axes.push({ label: spec.y2_label || "", scale: "y2", side: 1, grid: { show: false }, labelSize: 20 });
      scales.y2 = { range: yRange };
    }
    var hooks = faultHooks(bundle);
    hooks.setSelect = [
      function (u) {
        if (u.select.width > 0) {
          u.fcFull = false;
        }
      },
    ];
    hooks.setScale = [
      function (u, key) {
        if (key !== "x" || !group || group.busy) {
          return;
        }
        group.busy = true;
        try {
          group.charts.forEach(function (other) {
            if (other !== u) {
              other.fcFull = u.fcFull;
              other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
            }
          });
        } finally {
          group.busy = false;
        }
      },
    ];
    el.textContent = "";
    var chart = new uPlot(
      {
        width: width,
        height: height,
        series: series,
        axes: axes,
        scales: scales,
        legend: { show: opts.legend !== false },
        cursor: {
          drag: { x: true, y: false, setScale: true },
          bind: {
            dblclick: function (u, targ, handler, onlyTarg) {
              return function (e) {
                if (e.button === 0 && (onlyTarg === false || e.target === targ)) {
                  u.fcFull = true;
                  handler(e);
                }
              };
            },
          },
        },
        hooks: hooks,
      },
      data,
      el
    );
    return chart;
  }

  /** Draw every [data-chart] element under `root` from `bundle`; returns the uPlot instances. */
  function render(root, bundle, options) {
    var opts = options || {};
    var made = [];
    var group = opts.sync ? { charts: [], busy: true } : null;
    var elements = root.querySelectorAll("[data-chart]");
    for (var i = 0; i < elements.length; i++) {
      var el = elements[i];
      var spec = bundle && bundle.charts ? bundle.charts[el.getAttribute("data-chart")] : null;
      if (!hasData(spec)) {
        note(el, el.getAttribute("data-empty") || "No data.");
        continue;
      }
      if (typeof uPlot === "undefined") {
        note(el, "Charts are unavailable: uPlot did not load.");
        continue;
      }
      try {
        var chart = makeChart(el, spec, bundle, opts, group);
        el.setAttribute("data-drawn", spec.kind);
        el.uplot = chart; // for the console and the browser tests: scales, posToVal

        made.push({ el: el, chart: chart });
        if (group) {
          group.charts.push(chart);
        }
      } catch (err) {
        el.setAttribute("data-error", String(err));
        note(el, "This chart could not be drawn: " + err);
      }
    }
    if (group) {
      group.busy = false;
    }
    if (made.length) {
      var height = opts.height || 260;
      window.addEventListener("resize", function () {
        made.forEach(function (m) {
          m.chart.setSize({ width: Math.max(m.el.clientWidth || 0, 320), height: height });
        });
      });
    }
    return made.map(function (m) {
      return m.chart;
    });
  }

  /** The JSON of a <script type="application/json"> element, or null when absent or bad. */
  function readData(id) {
    var el = document.getElementById(id);
    if (!el) {
      return null;
    }
    try {
      return JSON.parse(el.textContent);
    } catch (err) {
      return null;
    }
  }

  window.FaultCharts = { render: render, readData: readData };
})();
