// A dashboard kept live from its one stream: the status table, stats per row, recent events and logs.
"use strict";
(function () {
  const root = document.getElementById("dashboard");
  if (!root) return;
  const base = root.dataset.base;
  const statusElement = root.querySelector("[data-stream-status]");
  const rowsElement = root.querySelector("[data-rows]");
  const statsOnly = rowsElement && rowsElement.hasAttribute("data-stats-only");
  const withStats = root.hasAttribute("data-show-stats");
  const eventsElement = root.querySelector("[data-events]");
  const logsElement = root.querySelector("[data-logs]");
  const emptyElement = root.querySelector("[data-empty]");
  const banner = root.querySelector("[data-engine-banner]");
  // Each engine's rows come on their own; the table shows them in the dashboard's order of engines.
  const engines = (root.dataset.engines || "local").split(",");
  const several = engines.length > 1;
  const tables = {};
  const problems = {};
  const names = {};
  const maxEvents = 50;
  const maxLogLines = 2000;

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text !== null && text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function since(iso) {
    if (!iso) return "not running";
    const started = new Date(iso);
    if (isNaN(started)) return iso;
    let seconds = Math.max(0, Math.floor((Date.now() - started.getTime()) / 1000));
    const days = Math.floor(seconds / 86400); seconds -= days * 86400;
    const hours = Math.floor(seconds / 3600); seconds -= hours * 3600;
    const minutes = Math.floor(seconds / 60);
    if (days > 0) return days + " d " + hours + " h";
    if (hours > 0) return hours + " h " + minutes + " min";
    return minutes + " min";
  }

  const bytes = window.BerthStream.bytes;

  let received = false;
  function showContainers(data) {
    received = true;
    tables[data.engine] = data.containers || [];
    render();
  }

  function render() {
    const containers = [];
    engines.forEach(function (name) { (tables[name] || []).forEach(function (c) { containers.push(c); }); });
    containers.forEach(function (c) { names[c.shortId] = c.name; });
    if (emptyElement) emptyElement.hidden = containers.length > 0;
    if (!rowsElement) return;
    const previous = {};
    rowsElement.querySelectorAll("tr[data-container]").forEach(function (tr) {
      const cpu = tr.querySelector("[data-stat=cpu]");
      const memory = tr.querySelector("[data-stat=memory]");
      previous[tr.dataset.engine + "/" + tr.dataset.container] = [cpu && cpu.textContent, memory && memory.textContent];
    });
    const fragment = document.createDocumentFragment();
    containers.forEach(function (c) {
      const tr = document.createElement("tr");
      tr.dataset.engine = c.engine;
      tr.dataset.container = c.shortId;
      const link = document.createElement("a");
      link.href = base + "/containers/" + c.shortId + (c.engineQuery || "");
      link.textContent = c.name;
      cell(tr, null, "name").appendChild(link);
      if (several) cell(tr, c.engine);
      if (!statsOnly) {
        const state = document.createElement("span");
        state.className = "state state-" + c.state;
        state.textContent = c.state;
        cell(tr).appendChild(state);
        cell(tr, c.health || "none");
        const up = cell(tr, since(c.startedAt));
        if (c.startedAt) up.title = c.startedAt;
        cell(tr, String(c.restarts));
        const image = cell(tr, c.image);
        if (c.updateAvailable) {
          const mark = document.createElement("span");
          mark.className = "label update";
          mark.textContent = "update available";
          image.append(" ", mark);
        }
      }
      if (withStats) {
        const kept = previous[c.engine + "/" + c.shortId] || ["–", "–"];
        cell(tr, c.running ? kept[0] : "–").dataset.stat = "cpu";
        cell(tr, c.running ? kept[1] : "–").dataset.stat = "memory";
      }
      fragment.appendChild(tr);
    });
    rowsElement.replaceChildren(fragment);
  }

  function showStats(data) {
    if (!rowsElement) return;
    const tr = Array.prototype.find.call(rowsElement.querySelectorAll("tr[data-container]"), function (row) {
      return row.dataset.container === data.c && row.dataset.engine === data.engine;
    });
    if (!tr) return;
    const s = data.stats;
    const cpu = tr.querySelector("[data-stat=cpu]");
    const memory = tr.querySelector("[data-stat=memory]");
    if (cpu) cpu.textContent = s.cpu === null || s.cpu === undefined ? "–" : s.cpu.toFixed(1) + " %";
    if (memory) memory.textContent = bytes(s.memory) + (s.memoryLimit ? " / " + bytes(s.memoryLimit) : "");
  }

  function showEvent(data) {
    if (!eventsElement) return;
    const li = document.createElement("li");
    const time = document.createElement("time");
    const when = new Date(data.time);
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString();
    li.appendChild(time);
    li.appendChild(document.createTextNode(" " + (data.name || data.c) + (several ? " on " + data.engine : "") + ": " + data.action + (data.exitCode ? " (exit code " + data.exitCode + ")" : "")));
    eventsElement.insertBefore(li, eventsElement.firstChild);
    while (eventsElement.children.length > maxEvents) eventsElement.removeChild(eventsElement.lastChild);
  }

  function showLogs(data) {
    if (!logsElement) return;
    const atBottom = logsElement.scrollHeight - logsElement.scrollTop - logsElement.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    (data.lines || []).forEach(function (line) {
      const div = document.createElement("div");
      div.className = "line " + line.s;
      const who = document.createElement("span");
      who.className = "label";
      who.textContent = names[line.c] || line.c;
      div.appendChild(who);
      // Escape sequences are dropped here; the full viewer renders colours.
      div.appendChild(document.createTextNode(" " + String(line.x).replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|[\x00-\x08\x0b-\x1f\x7f]/g, "")));
      fragment.appendChild(div);
    });
    logsElement.appendChild(fragment);
    while (logsElement.childElementCount > maxLogLines) logsElement.removeChild(logsElement.firstChild);
    if (atBottom) logsElement.scrollTop = logsElement.scrollHeight;
  }

  // One line for each engine that is down now.
  function engine(data) {
    if (!banner) return;
    if (data.state === "up") delete problems[data.engine]; else problems[data.engine] = data.message;
    const lines = engines.filter(function (name) { return problems[name]; }).map(function (name) { return problems[name]; });
    banner.hidden = lines.length === 0;
    banner.textContent = lines.join(" ");
  }

  // Each connection starts over (hello): the stream sends the table, the recent events and the logs' tail again.
  const stream = window.BerthStream(root.dataset.stream, {
    hello: function () {
      if (eventsElement) eventsElement.replaceChildren();
      if (logsElement) logsElement.replaceChildren();
      Object.keys(problems).forEach(function (name) { delete problems[name]; });
      if (banner) banner.hidden = true;
    },
    containers: showContainers,
    event: showEvent,
    stats: showStats,
    logs: showLogs,
    engine: engine
  }, statusElement);

  root.querySelector("[data-action=fullscreen]").addEventListener("click", function () {
    document.body.classList.toggle("wall");
    if (document.fullscreenElement) { document.exitFullscreen(); }
    else if (document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen().catch(function () {}); }
  });
  // Uptimes move on without events.
  setInterval(function () { if (received) render(); }, 60000);
  window.berthDashboard = stream;
})();
