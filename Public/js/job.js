// A job's live page: state, bar, parts and log follow the job on the server. Closing the page changes nothing of
// the job; opening it again (here or from Jobs) picks it up where it is.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root || root.dataset.final) return;
  const state = document.getElementById("job-state");
  const bar = document.getElementById("job-bar");
  const summary = document.getElementById("job-summary");
  const result = document.getElementById("job-result");
  const links = document.getElementById("job-links");
  const cancel = document.getElementById("job-cancel");
  const itemsTable = root.querySelector(".job-items");
  const items = document.getElementById("job-items");
  const log = document.getElementById("job-log");
  const status = root.querySelector("[data-stream-status]");
  // The page came with the log's lines so far; the stream may send them again.
  let next = log.textContent ? log.textContent.split("\n").length : 0;
  const rows = {};
  items.querySelectorAll("tr[data-item]").forEach(function (tr) { rows[tr.dataset.item] = tr; });

  function row(item) {
    let tr = rows[item.id];
    if (!tr) {
      tr = document.createElement("tr");
      for (let i = 0; i < 3; i++) tr.appendChild(document.createElement("td"));
      tr.dataset.item = item.id;
      items.appendChild(tr);
      rows[item.id] = tr;
    }
    tr.cells[0].textContent = item.id;
    tr.cells[1].textContent = item.status;
    tr.cells[2].textContent = item.total ? BerthStream.bytes(item.current || 0) + " / " + BerthStream.bytes(item.total) : "";
  }

  // A time the stream tells, as the page shows times (time.js), UTC without it.
  function stamp(id, iso) {
    const dd = document.getElementById(id);
    if (!iso || !dd || dd.querySelector("time")) return;
    const time = document.createElement("time");
    time.setAttribute("datetime", iso);
    time.textContent = window.berthTime ? window.berthTime(new Date(iso)) : iso.replace("T", " ").replace(/\.\d+Z$/, " UTC");
    dd.appendChild(time);
  }

  function show(job) {
    stamp("job-started", job.startedAt);
    stamp("job-ended", job.endedAt);
    state.textContent = job.state;
    state.className = "state-" + job.state;
    if (job.total > 0) { bar.max = job.total; bar.value = job.current; }
    summary.textContent = job.summary;
    if (job.items.length) { itemsTable.hidden = false; job.items.forEach(row); }
    job.log.forEach(function (line, i) {
      if (job.logFrom + i < next) return;
      log.textContent += (log.textContent ? "\n" : "") + line;
    });
    next = Math.max(next, job.logNext);
    if (job.state === "queued" || job.state === "running") return;
    stream.stop();
    status.textContent = "";
    result.className = "banner " + (job.state === "succeeded" ? "banner-ok" : "banner-error");
    result.textContent = job.message || job.state;
    if (job.state === "succeeded") { bar.max = 1; bar.value = 1; links.hidden = false; }
    if (cancel) cancel.hidden = true;
  }

  const stream = BerthStream(root.dataset.stream, { job: show }, status);
})();
