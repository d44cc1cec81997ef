// Order page: the time left to pay, counting down each second (the server cancels the order
// when it runs out; the deadline itself is printed beside it).
(function () {
  var box = document.querySelector(".pay-countdown");
  if (!box) return;
  var out = box.querySelector(".countdown");
  var left = parseInt(box.getAttribute("data-seconds-left"), 10);
  if (!out || !(left >= 0)) return;
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  var started = Date.now();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var s = Math.max(0, left - Math.floor((Date.now() - started) / 1000));
    var text = pad(Math.floor(s / 60)) + ":" + pad(s % 60);
    out.textContent = zh ? "（剩余 " + text + "）" : " (" + text + " left)";
    if (s > 0) setTimeout(tick, 1000);
  }
  tick();
})();
