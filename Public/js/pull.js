// A pull's live progress: one bar for the image, a row per layer, the registry's last word. The stream runs the pull,
// so it stays open while the page is hidden (closing it would cancel the pull).
"use strict";
(function () {
  const root = document.getElementById("pull");
  if (!root) return;
  const bar = document.getElementById("pull-bar");
  const summary = document.getElementById("pull-summary");
  const result = document.getElementById("pull-result");
  const layers = document.getElementById("pull-layers");
  const notes = document.getElementById("pull-notes");
  const status = root.querySelector("[data-stream-status]");
  const rows = {};
  let finished = false;

  function size(bytes) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return value.toFixed(unit ? 1 : 0) + " " + units[unit];
  }

  function row(layer) {
    let tr = rows[layer.id];
    if (!tr) {
      tr = document.createElement("tr");
      for (let i = 0; i < 3; i++) tr.appendChild(document.createElement("td"));
      tr.dataset.layer = layer.id;
      layers.appendChild(tr);
      rows[layer.id] = tr;
    }
    tr.cells[0].textContent = layer.id;
    tr.cells[1].textContent = layer.status;
    tr.cells[2].textContent = layer.total ? size(layer.current || 0) + " / " + size(layer.total) : "";
  }

  function progress(data) {
    data.layers.forEach(row);
    if (data.total > 0) { bar.max = data.total; bar.value = data.current; }
    summary.textContent = data.layersDone + " of " + data.layers.length + " layers done" +
      (data.total > 0 ? ", " + size(data.current) + " of " + size(data.total) : "");
    notes.textContent = data.notes.join("\n");
  }

  function end(ok, text) {
    finished = true;
    source.close();
    status.textContent = "";
    result.className = "banner " + (ok ? "banner-ok" : "banner-error");
    result.textContent = text;
    if (ok) { bar.max = 1; bar.value = 1; }
  }

  const source = new EventSource(root.dataset.stream);
  source.onopen = function () { status.textContent = "live"; };
  source.onerror = function () {
    if (finished) return;
    // A broken connection has already cancelled the pull on the server: say so instead of retrying.
    end(false, "The connection to Berth was lost; the pull may not have finished. See Images, or pull again.");
  };
  function parsed(event) { try { return JSON.parse(event.data); } catch (e) { return null; } }
  source.addEventListener("progress", function (event) { const data = parsed(event); if (data) progress(data); });
  source.addEventListener("done", function (event) {
    const data = parsed(event) || {};
    end(true, "Pulled " + data.reference + (data.digest ? " (" + data.digest + ")" : "") + ".");
    const link = document.createElement("a");
    link.href = "/images/" + encodeURIComponent(data.reference);
    link.textContent = " Open the image";
    result.appendChild(link);
    const run = document.createElement("a");
    run.href = "/containers/new?image=" + encodeURIComponent(data.reference);
    run.textContent = " or run it.";
    result.appendChild(run);
  });
  source.addEventListener("failed", function (event) {
    const data = parsed(event) || {};
    end(false, "The pull failed: " + (data.message || "no reason given"));
  });
  source.addEventListener("end", function (event) {
    const data = parsed(event) || {};
    end(false, data.reason || "The stream ended.");
  });
})();
