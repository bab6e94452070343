// The engine events page: newest first, filtered by type and action on the server.
"use strict";
(function () {
  const root = document.getElementById("events");
  if (!root) return;
  const rows = document.getElementById("event-rows");
  const form = document.getElementById("event-filters");
  const statusElement = root.querySelector("[data-stream-status]");
  const maxRows = 500;
  const allEngines = root.hasAttribute("data-all-engines");

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function add(event) {
    const row = document.createElement("tr");
    cell(row, new Date(event.time).toLocaleTimeString(), "nowrap");
    if (allEngines) cell(row, event.engine || "");
    cell(row, event.type);
    cell(row, event.action);
    cell(row, event.name ? event.name + " (" + event.id.slice(0, 12) + ")" : event.id.slice(0, 12));
    const attributes = Object.keys(event.attributes).filter(k => k !== "name").map(k => k + "=" + event.attributes[k]).join(" ");
    cell(row, attributes, "muted");
    rows.insertBefore(row, rows.firstChild);
    while (rows.childNodes.length > maxRows) rows.removeChild(rows.lastChild);
  }

  function note(text) {
    const row = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = allEngines ? 6 : 5;
    td.className = "muted";
    td.textContent = text;
    row.appendChild(td);
    rows.insertBefore(row, rows.firstChild);
  }

  function url() {
    const params = new URLSearchParams();
    if (form.elements.type.value) params.set("type", form.elements.type.value);
    if (form.elements.action.value.trim()) params.set("action", form.elements.action.value.trim());
    if (form.elements.project.value.trim()) params.set("project", form.elements.project.value.trim());
    const query = params.toString();
    return root.dataset.stream + (query ? "?" + query : "");
  }

  const stream = BerthStream(url(), {
    event: add,
    engine: function (data) { note(data.message); },
    resync: function (data) { note(data.reason); },
    gap: function (data) { note(data.dropped + " events were skipped because the page fell behind."); }
  }, statusElement);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    rows.textContent = "";
    stream.restart(url());
  });
})();
