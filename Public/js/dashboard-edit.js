// The dashboard editor's live preview: which containers the selection matches now.
"use strict";
(function () {
  const preview = document.getElementById("preview");
  if (!preview) return;
  const kind = document.getElementById("selection-kind");
  const selection = document.getElementById("selection");
  const summary = preview.querySelector("[data-preview-summary]");
  const list = preview.querySelector("[data-preview-list]");
  const engines = Array.prototype.slice.call(document.querySelectorAll("[data-preview-engine]"));
  let timer = null;
  let asked = 0;

  function show(result) {
    list.replaceChildren();
    if (result.problems.length > 0) { summary.textContent = result.problems.join(" "); return; }
    if (result.engineProblem) { summary.textContent = "The engine can't be reached: " + result.engineProblem; return; }
    summary.textContent = result.matches.length === 0
      ? "Nothing matches " + result.summary + " now (containers started later will show)."
      : result.matches.length + " container(s) match " + result.summary + " now:";
    result.matches.forEach(function (m) {
      const li = document.createElement("li");
      li.textContent = m.name + (engines.length > 0 ? " on " + m.engine : "") + " — " + m.state + ", " + m.image;
      list.appendChild(li);
    });
  }

  function refresh() {
    const number = ++asked;
    let query = "?kind=" + encodeURIComponent(kind.value) + "&selection=" + encodeURIComponent(selection.value);
    if (engines.length > 0) query += "&engines=1";
    engines.forEach(function (box) { if (box.checked) query += "&engine=" + encodeURIComponent(box.value); });
    fetch(preview.dataset.preview + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { if (!response.ok) throw new Error("HTTP " + response.status); return response.json(); })
      .then(function (result) { if (number === asked) show(result); })
      .catch(function (error) { if (number === asked) summary.textContent = "The preview failed: " + error.message; });
  }

  function soon() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  kind.addEventListener("change", soon);
  selection.addEventListener("input", soon);
  engines.forEach(function (box) { box.addEventListener("change", soon); });
  refresh();
})();
