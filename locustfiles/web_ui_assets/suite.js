/*
 * The Chaos tab's colours and timeline, and the faults on Locust's charts, in Locust's web UI
 * (locustfiles/web_ui.py links it).
 *
 * Locust's React draws the Chaos table from each poll of /stats/requests; this script only
 * reads it. Whenever the page changes, each row of the table whose header is the Chaos
 * table's gets data-what (its What cell) and data-state (its State cell), which suite.css
 * colours; and a timeline of the run, drawn from the rows with a time, sits above the table:
 * one mark per event at its time (s from the run's start), faults in red with their
 * instance, recoveries (ready, resume, heal) in green, exits in amber, restarts and launches
 * in blue, the run's time so far as a grey bar. The marks carry data-what and data-time for
 * whoever checks them. A Start refused after a run has Locust fetch the table again, so that
 * the tab shows the refusal, not the run before it.
 */
(function () {
  "use strict";

  var TITLES = ["Time (s)", "What", "Instance", "PID", "State", "Detail"];
  var WHAT = 1, INSTANCE = 2, STATE = 4, TIME = 0;
  var COLORS = {
    fault: "#d62728", ready: "#2ca02c", resume: "#2ca02c", heal: "#2ca02c",
    exit: "#ff7f0e", stall: "#ff7f0e", restart: "#1f77b4", launch: "#1f77b4",
  };
  var SVG = "http://www.w3.org/2000/svg";

  function chaosTable() {
    var tables = document.querySelectorAll("table");
    for (var i = 0; i < tables.length; i++) {
      var head = Array.prototype.map.call(tables[i].querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      if (head.join("|") === TITLES.join("|")) {
        return tables[i];
      }
    }
    return null;
  }

  function cells(tr) {
    return Array.prototype.map.call(tr.querySelectorAll("td"), function (td) {
      return td.textContent.trim();
    });
  }

  function svg(name, attrs) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) {
      el.setAttribute(k, attrs[k]);
    });
    return el;
  }

  function legendItem(color, text) {
    var item = document.createElement("span");
    if (color) {
      var swatch = document.createElement("i");
      swatch.style.background = color;
      item.appendChild(swatch);
    }
    item.appendChild(document.createTextNode(text));
    return item;
  }

  // The timeline of `rows` (each [time, what, instance, ...]) into `box`, redrawn whole.
  function drawTimeline(box, rows) {
    var now = 0;
    var marks = [];
    rows.forEach(function (r) {
      var t = parseFloat(r[TIME]);
      if (isNaN(t)) {
        return;
      }
      now = Math.max(now, t);
      if (COLORS[r[WHAT]]) {
        marks.push({ t: t, what: r[WHAT], instance: r[INSTANCE] });
      }
    });
    var key = now + "|" + marks.length;
    if (box.getAttribute("data-key") === key) {
      return;
    }
    box.setAttribute("data-key", key);
    box.textContent = "";
    if (!marks.length && now === 0) {
      return;
    }
    var extent = Math.max(now, 1);
    var plot = svg("svg", { viewBox: "0 0 1000 64", preserveAspectRatio: "none", role: "img", "aria-label": "run timeline" });
    plot.appendChild(svg("rect", { x: 0, y: 28, width: (1000 * now) / extent, height: 6, fill: "#ddd" }));
    marks.sort(function (a, b) {
      return a.t - b.t;
    });
    marks.forEach(function (m, k) {
      var x = (1000 * m.t) / extent;
      var line = svg("line", { x1: x, x2: x, y1: m.what === "fault" ? 4 : 18, y2: 44, stroke: COLORS[m.what], "stroke-width": m.what === "fault" ? 3 : 2 });
      line.setAttribute("class", "ft-mark");
      line.setAttribute("data-what", m.what);
      line.setAttribute("data-time", String(m.t));
      var title = svg("title", {});
      title.textContent = m.what + " " + m.instance + " at " + m.t.toFixed(2) + " s";
      line.appendChild(title);
      plot.appendChild(line);
    });
    box.appendChild(plot);
    var labels = document.createElement("div");
    labels.className = "ft-legend";
    marks.filter(function (m) {
      return m.what === "fault";
    }).forEach(function (m) {
      labels.appendChild(legendItem(COLORS.fault, "fault " + m.instance + " at " + m.t.toFixed(2) + " s"));
    });
    ["ready", "exit", "restart"].forEach(function (what) {
      labels.appendChild(legendItem(COLORS[what], what === "ready" ? "back (ready, resume, heal)" : what === "exit" ? "exit, stall" : "launch, restart"));
    });
    labels.appendChild(legendItem(null, "0 to " + now.toFixed(1) + " s"));
    box.appendChild(labels);
  }

  function update() {
    var table = chaosTable();
    if (!table) {
      // Another tab: the timeline leaves with the table (React removes only its own nodes).
      document.querySelectorAll(".ft-timeline").forEach(function (box) {
        box.remove();
      });
      return;
    }
    var rows = [];
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var row = cells(tr);
      rows.push(row);
      if (tr.getAttribute("data-what") !== row[WHAT]) {
        tr.setAttribute("data-what", row[WHAT] || "");
      }
      if (tr.getAttribute("data-state") !== row[STATE]) {
        tr.setAttribute("data-state", row[STATE] || "");
      }
    });
    // Beside the table's own container, not inside React's nodes.
    var holder = table.closest(".MuiTableContainer-root") || table;
    var box = holder.previousElementSibling;
    if (!box || !box.classList.contains("ft-timeline")) {
      box = document.createElement("div");
      box.className = "ft-timeline";
      holder.parentNode.insertBefore(box, holder);
    }
    drawTimeline(box, rows);
  }

  // The React fiber of an element React rendered: where Locust keeps what it shows no
  // handle to. Null for any other element.
  function fiberOf(el) {
    var key = el && Object.keys(el).find(function (k) {
      return k.indexOf("__reactFiber$") === 0;
    });
    return key ? el[key] : null;
  }

  // Locust's charts are ECharts instances held in its React components' state, with no
  // handle outside them: each is found from its element through React's fiber (the chart's
  // div, then the component above it). Null where there is none (another Locust version).
  function chartOf(div) {
    for (var fiber = fiberOf(div), depth = 0; fiber && depth < 6; fiber = fiber.return, depth++) {
      for (var hook = fiber.memoizedState, n = 0; hook && n < 40; hook = hook.next, n++) {
        var value = hook.memoizedState;
        if (value && typeof value.setOption === "function" && typeof value.getOption === "function") {
          return value;
        }
      }
    }
    return null;
  }

  // Every delivered fault of the run shown (/fault-tolerance/faults: [{time: epoch s, label}])
  // as a dashed red line across each of Locust's time charts, named at its top: a line series
  // of its own ("faults"), one vertical segment per fault from the y axis's least value to its
  // greatest. (Locust's ECharts has no markLine component to draw it with.)
  function markCharts(faults) {
    document.querySelectorAll("[_echarts_instance_]").forEach(function (div) {
      var chart = chartOf(div);
      var option = chart && chart.getOption();
      if (!option || !option.xAxis || !option.xAxis.length || option.xAxis[0].type !== "time") {
        return;
      }
      var extent = chart.getModel().getComponent("yAxis", 0).axis.scale.getExtent();
      var data = [];
      faults.forEach(function (f) {
        var at = new Date(f.time * 1000).toISOString();
        if (data.length) {
          data.push([at, "-"]);  // a gap: no line from one fault to the next
        }
        data.push([at, extent[0]]);
        data.push({ value: [at, extent[1]], name: f.label, label: { show: true, position: "right", formatter: f.label, color: COLORS.fault } });
      });
      chart.setOption({
        series: [{
          id: "ft-faults", name: "faults", type: "line", data: data, silent: true, z: 10,
          color: COLORS.fault, showSymbol: true, symbolSize: 1, animation: false,
          lineStyle: { color: COLORS.fault, type: "dashed", width: 2 },
        }],
      });
    });
  }

  function pollFaults() {
    if (!document.querySelector("[_echarts_instance_]")) {
      return;
    }
    fetch("./fault-tolerance/faults", { cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.json() : [];
      })
      .then(markCharts, function () {});
  }
  window.setInterval(pollFaults, 2000);

  // Locust's UI fetches /stats/requests, where the Chaos tab's rows come from, only while a
  // run is on. A Start refused after a run would leave that run's summary in the tab as if it
  // were the latest news. So when a Start is refused, Locust's own data layer (Redux Toolkit
  // Query, reducer path "api") is told that its stats are stale, and fetches them once more.
  // Its store is found through React's fiber, in the props of React-Redux's Provider; where
  // there is none (another Locust version), the tab stays as it was.
  function refetchStats() {
    for (var fiber = fiberOf(document.querySelector("#root > *")); fiber; fiber = fiber.return) {
      var store = fiber.memoizedProps && fiber.memoizedProps.store;
      if (store && typeof store.dispatch === "function") {
        store.dispatch({ type: "api/invalidateTags", payload: ["stats"] });
        return;
      }
    }
  }

  // A POST to Locust's /swarm: a Start. Never throws, since every fetch of the page passes here.
  function isStart(input, init) {
    try {
      var method = (init && init.method) || (input instanceof Request ? input.method : "GET");
      var url = input instanceof Request ? input.url : String(input);
      return method.toUpperCase() === "POST" && /\/swarm$/.test(new URL(url, window.location.href).pathname);
    } catch (error) {
      return false;
    }
  }

  var pageFetch = window.fetch;
  window.fetch = function (input, init) {
    var answer = pageFetch.apply(this, arguments);
    if (isStart(input, init)) {
      answer
        .then(function (response) {
          return response.clone().json();
        })
        .then(function (body) {
          if (body && body.success === false) {
            refetchStats();
          }
        }, function () {});
    }
    return answer;
  };

  var pending = false;
  new MutationObserver(function () {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        update();
      });
    }
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
})();
