// Shows <time data-local> elements in the browser's own time zone when the user's setting asks for it. The server
// renders UTC (it cannot know the zone); this only rewrites text, and without it the UTC text stays.
"use strict";
(function () {
  const body = document.body;
  if (!body || body.dataset.timeZone !== "local") return;
  const format = body.dataset.dateFormat || "yyyy-mm-dd";
  const pad = function (n) { return String(n).padStart(2, "0"); };
  function show(date) {
    const y = date.getFullYear(), m = pad(date.getMonth() + 1), d = pad(date.getDate());
    const day = format === "dd.mm.yyyy" ? d + "." + m + "." + y : format === "mm/dd/yyyy" ? m + "/" + d + "/" + y : y + "-" + m + "-" + d;
    return day + " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }
  window.berthTime = show;
  function apply(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      if (body.dataset.timeStyle === "relative") { el.title = show(date); } else { el.textContent = show(date); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { apply(document); });
})();
