// Live resource use on the container page, computed on the server as `docker stats` does.
"use strict";
(function () {
  const root = document.getElementById("stats");
  if (!root) return;
  const statusElement = root.querySelector("[data-stream-status]");
  const history = { cpu: [], memory: [] };
  const keep = 60;

  const bytes = window.BerthStream.bytes;

  function set(name, text) { root.querySelector("[data-stat=" + name + "]").textContent = text; }

  function draw(name, max) {
    const points = history[name];
    const line = root.querySelector("[data-chart=" + name + "] polyline");
    const top = Math.max(max || 0, ...points, 1);
    line.setAttribute("points", points.map(function (v, i) {
      return (i * 120 / (keep - 1)).toFixed(1) + "," + (30 - v / top * 28).toFixed(1);
    }).join(" "));
  }

  function push(name, value) {
    history[name].push(value);
    if (history[name].length > keep) history[name].shift();
  }

  BerthStream(root.dataset.stream, {
    stats: function (s) {
      set("cpu", s.cpu === null || s.cpu === undefined ? "–" : s.cpu.toFixed(2) + " %");
      set("memory", bytes(s.memory) + (s.memoryLimit ? " / " + bytes(s.memoryLimit) : ""));
      set("network", bytes(s.networkReceived) + " / " + bytes(s.networkSent));
      set("block", bytes(s.blockRead) + " / " + bytes(s.blockWritten));
      push("cpu", s.cpu || 0);
      push("memory", s.memory || 0);
      draw("cpu", 100);
      draw("memory", 0);
    },
    engine: function (data) { statusElement.textContent = data.message; }
  }, statusElement);
})();
