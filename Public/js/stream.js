// A server-sent event stream that runs only while its page is visible and resumes where it left off.
"use strict";
window.BerthStream = function (url, handlers, statusElement) {
  let source = null;
  let lastId = "";
  let closedForGood = false;

  function status(text) { if (statusElement) statusElement.textContent = text; }

  function open() {
    if (source || closedForGood) return;
    // A new EventSource does not send Last-Event-ID, so the position travels in the query instead.
    const full = lastId ? url + (url.includes("?") ? "&" : "?") + "lastEventId=" + encodeURIComponent(lastId) : url;
    source = new EventSource(full);
    source.onopen = function () { status("live"); };
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) {
        status("stream closed (signed out or refused); reload the page");
        source = null;
        closedForGood = true;
      } else {
        status("reconnecting…");
      }
    };
    for (const name of Object.keys(handlers)) {
      source.addEventListener(name, function (event) {
        if (event.lastEventId) lastId = event.lastEventId;
        let data = null;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        handlers[name](data);
      });
    }
    source.addEventListener("end", function (event) {
      let data = {};
      try { data = JSON.parse(event.data); } catch (e) { /* keep the default */ }
      status(data.reason || "stream ended");
      if (data.final) stop(true);
    });
  }

  function stop(forGood) {
    if (source) { source.close(); source = null; }
    if (forGood) closedForGood = true;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { open(); } else { stop(false); status("paused while the page is hidden"); }
  });
  if (document.visibilityState !== "hidden") open();

  return {
    restart: function (newUrl) { stop(false); closedForGood = false; lastId = ""; url = newUrl; open(); },
    stop: function () { stop(true); }
  };
};

// A byte count as the stats widgets show it.
window.BerthStream.bytes = function (n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
};
