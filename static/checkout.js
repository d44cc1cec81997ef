// Checkout: the goods total, points deduction and cash due follow the points typed and the
// campaign chosen. Each campaign option carries the server's prices for this cart (computed by
// the order's own pricing); the server computes the final amount again when the order is placed.
(function () {
  var input = document.getElementById("points");
  var out = document.getElementById("cash-due");
  if (!input || !out) return;
  var off = document.getElementById("points-off");
  var goods = document.getElementById("goods-total");
  var goodsAgain = document.getElementById("amount-goods");
  var maxText = document.getElementById("max-points");
  var campaign = document.getElementById("campaign_id");
  var totalFen = parseInt(out.getAttribute("data-total-fen"), 10) || 0;
  var perYuan = parseInt(out.getAttribute("data-points-per-yuan"), 10) || 0;
  var balance = parseInt(out.getAttribute("data-balance"), 10) || 0;
  var max = parseInt(input.getAttribute("max"), 10);
  if (!(max >= 0)) max = 0;

  function yuan(fen) {
    var s = (fen / 100).toFixed(2);
    var parts = s.split(".");
    return parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + parts[1];
  }

  function update(clamp) {
    var points = Math.floor(Number(input.value)) || 0;
    var clamped = Math.min(Math.max(points, 0), max);
    if (clamp && input.value !== "" && clamped !== Number(input.value)) input.value = String(clamped);
    var pointsFen = perYuan > 0 ? Math.round(clamped * 100 / perYuan) : 0;
    pointsFen = Math.min(pointsFen, totalFen);
    if (off) off.value = (pointsFen / 100).toFixed(2);
    out.value = (Math.max(totalFen - pointsFen, 0) / 100).toFixed(2);
  }

  function choose() {
    var option = campaign.options[campaign.selectedIndex];
    if (!option) return;
    totalFen = parseInt(option.getAttribute("data-total-fen"), 10) || 0;
    max = Math.min(parseInt(option.getAttribute("data-max-points"), 10) || 0, balance);
    input.setAttribute("max", String(max));
    if (maxText) maxText.textContent = max.toLocaleString("en-US");
    if (goods) goods.textContent = yuan(totalFen);
    if (goodsAgain) goodsAgain.textContent = yuan(totalFen);
    (option.getAttribute("data-prices") || "").split(";").forEach(function (entry) {
      var f = entry.split(":");
      if (f.length !== 3) return;
      var row = document.querySelector('tr[data-sku="' + f[0].replace(/\D/g, "") + '"]');
      if (!row) return;
      var unit = row.querySelector(".unit-price");
      var total = row.querySelector(".line-total");
      if (unit) unit.textContent = yuan(parseInt(f[1], 10) || 0);
      if (total) total.textContent = yuan(parseInt(f[2], 10) || 0);
    });
    update(true);
  }

  input.addEventListener("input", function () { update(true); });
  if (campaign) campaign.addEventListener("change", choose);
  update(false);
})();
