// The live log viewer: follow/pause, filters, ANSI colours made safe, a cap on lines kept.
"use strict";
(function () {
  const viewer = document.getElementById("log-viewer");
  if (!viewer) return;
  const output = document.getElementById("log-lines");
  const controls = document.getElementById("log-controls");
  const statusElement = viewer.querySelector("[data-stream-status]");
  const maxLines = 5000;
  const names = {};
  viewer.querySelectorAll("[data-container]").forEach(function (el) { names[el.dataset.container] = el.textContent; });
  const merged = Object.keys(names).length > 1;
  const baseUrl = viewer.dataset.stream;

  function field(name) { return controls.elements[name]; }

  // SGR colour codes become classes; every other escape sequence (cursor moves, OSC 8 links, titles) is dropped.
  const escapePattern = /\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]/g;
  function appendAnsi(parent, text) {
    let classes = [];
    let last = 0;
    let match;
    escapePattern.lastIndex = 0;
    function piece(content) {
      if (!content) return;
      if (classes.length === 0) { parent.appendChild(document.createTextNode(content)); return; }
      const span = document.createElement("span");
      span.className = classes.join(" ");
      span.textContent = content;
      parent.appendChild(span);
    }
    while ((match = escapePattern.exec(text)) !== null) {
      piece(text.slice(last, match.index));
      last = escapePattern.lastIndex;
      if (match[1] === undefined) continue;
      const codes = match[1] === "" ? [0] : match[1].split(";").map(Number);
      for (const code of codes) {
        if (code === 0) classes = [];
        else if (code === 1) classes.push("ansi-bold");
        else if (code >= 30 && code <= 37) classes = classes.filter(c => !c.startsWith("ansi-fg")).concat("ansi-fg-" + (code - 30));
        else if (code >= 90 && code <= 97) classes = classes.filter(c => !c.startsWith("ansi-fg")).concat("ansi-fg-" + (code - 90));
        else if (code >= 40 && code <= 47) classes = classes.filter(c => !c.startsWith("ansi-bg")).concat("ansi-bg-" + (code - 40));
        else if (code === 39) classes = classes.filter(c => !c.startsWith("ansi-fg"));
        else if (code === 49) classes = classes.filter(c => !c.startsWith("ansi-bg"));
      }
    }
    piece(text.slice(last));
  }

  function matcher() {
    const text = field("filter").value;
    if (!text) return null;
    if (field("regex").checked) {
      try { const re = new RegExp(text, "i"); return function (s) { return re.test(s); }; } catch (e) { return function () { return true; }; }
    }
    const lower = text.toLowerCase();
    return function (s) { return s.toLowerCase().includes(lower); };
  }
  let matches = matcher();

  function atBottom() { return output.scrollTop + output.clientHeight >= output.scrollHeight - 24; }
  function trim() { while (output.childNodes.length > maxLines) output.removeChild(output.firstChild); }
  function scroll() { if (field("follow").checked) output.scrollTop = output.scrollHeight; }

  function addLine(line) {
    const row = document.createElement("span");
    row.className = "line " + (line.s || "stdout") + (line.truncated ? " truncated" : "");
    row.dataset.text = line.x;
    if (line.t) {
      const ts = document.createElement("span");
      ts.className = "ts";
      ts.hidden = !field("timestamps").checked;
      const seconds = Number(line.t.split(".")[0]);
      ts.textContent = new Date(seconds * 1000).toISOString().replace("T", " ").replace(".000Z", "") + "." + line.t.split(".")[1].slice(0, 3);
      row.appendChild(ts);
    }
    if (merged) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = names[line.c] || line.c;
      row.appendChild(tag);
    }
    appendAnsi(row, line.x);
    if (matches && !matches(line.x)) row.hidden = true;
    output.appendChild(row);
  }

  function notice(text) {
    const row = document.createElement("span");
    row.className = "line notice";
    row.textContent = "— " + text;
    output.appendChild(row);
    trim();
    scroll();
  }

  function streamUrl() {
    const typed = field("tail").value.trim();
    const tail = typed === "all" ? "all" : String(Math.max(parseInt(typed, 10) || 0, 0));
    return baseUrl.replace(/([?&])tail=[^&]*/, "$1tail=" + tail);
  }

  const stream = BerthStream(streamUrl(), {
    logs: function (data) {
      for (const line of data.lines) addLine(line);
      trim();
      scroll();
    },
    status: function (data) { notice((merged ? (names[data.c] || data.c) + ": " : "") + data.message); },
    ended: function (data) { notice((merged ? (names[data.c] || data.c) + ": " : "") + data.reason); },
    gap: function (data) { notice(data.dropped + " messages were skipped because the page fell behind."); },
    engine: function (data) { notice(data.message); }
  }, statusElement);

  output.addEventListener("scroll", function () {
    // Scrolling up pauses follow; scrolling back to the end resumes it.
    field("follow").checked = atBottom();
  });
  controls.addEventListener("submit", function (event) { event.preventDefault(); });
  controls.addEventListener("change", function (event) {
    const name = event.target.name;
    if (name === "tail") { output.textContent = ""; stream.restart(streamUrl()); }
    if (name === "follow") scroll();
    if (name === "wrap") output.classList.toggle("nowrap-lines", !field("wrap").checked);
    if (name === "timestamps") output.querySelectorAll(".ts").forEach(function (el) { el.hidden = !field("timestamps").checked; });
    if (name === "stdout" || name === "stderr") {
      output.classList.toggle("hide-stdout", !field("stdout").checked);
      output.classList.toggle("hide-stderr", !field("stderr").checked);
    }
    if (name === "filter" || name === "regex") applyFilter();
  });
  field("filter").addEventListener("input", applyFilter);
  controls.querySelector("[data-action=clear]").addEventListener("click", function () { output.textContent = ""; });

  function applyFilter() {
    matches = matcher();
    output.querySelectorAll(".line").forEach(function (row) {
      if (row.classList.contains("notice")) return;
      row.hidden = matches ? !matches(row.dataset.text || "") : false;
    });
  }
})();
