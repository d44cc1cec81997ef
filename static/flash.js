// Flash-sale countdowns: each [data-flash-sale] box counts down to its start (upcoming) or
// its end (live) from data-starts / data-ends (Unix milliseconds, UTC); the times printed
// beside it are in the store's time zone. When a boundary passes, the page reloads so the
// server shows the sale's new state (live, or ended). Without JavaScript the times stand.
(function () {
  "use strict";
  var boxes = document.querySelectorAll("[data-flash-sale]");
  if (!boxes.length) return;
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function left(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d > 0 ? d + "d " : "") + two(h) + ":" + two(m) + ":" + two(s % 60);
  }
  var reloaded = false;
  function tick() {
    var now = Date.now();
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var starts = Number(box.getAttribute("data-starts"));
      var ends = Number(box.getAttribute("data-ends"));
      var out = box.querySelector(".flash-countdown");
      if (!out) continue;
      if (now < starts) {
        out.textContent = out.getAttribute("data-label-start") + " " + left(starts - now);
      } else if (now < ends) {
        out.textContent = out.getAttribute("data-label-end") + " " + left(ends - now);
        if (!box.classList.contains("flash-live") && !reloaded) { reloaded = true; location.reload(); }
      } else {
        out.textContent = "";
        if (box.classList.contains("flash-live") && !reloaded) { reloaded = true; location.reload(); }
      }
    }
  }
  tick();
  setInterval(tick, 1000);
})();
