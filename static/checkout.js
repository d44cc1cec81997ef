// Checkout: live estimate of the cash still due after points. The server computes the final amount.
(function () {
  var input = document.getElementById("points");
  var out = document.getElementById("cash-due");
  if (!input || !out) return;
  var totalFen = parseInt(out.getAttribute("data-total-fen"), 10) || 0;
  var perYuan = parseInt(out.getAttribute("data-points-per-yuan"), 10) || 0;
  var max = parseInt(input.getAttribute("max"), 10);
  if (!(max >= 0)) max = 0;
  function update(clamp) {
    var points = Math.floor(Number(input.value)) || 0;
    var clamped = Math.min(Math.max(points, 0), max);
    if (clamp && input.value !== "" && clamped !== Number(input.value)) input.value = String(clamped);
    var pointsFen = perYuan > 0 ? Math.round(clamped * 100 / perYuan) : 0;
    var cashFen = Math.max(totalFen - pointsFen, 0);
    out.value = (cashFen / 100).toFixed(2);
  }
  input.addEventListener("input", function () { update(true); });
  update(false);
})();
