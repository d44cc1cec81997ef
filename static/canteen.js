// The canteen's product pickers: the unit price for the quantity and the line's total, as the
// order prices it (orders/pricing.rs: the lowest of the list price, the best quantity tier
// reached and the campaign price), shown as the manager types.
(function () {
  function fen(text) {
    var n = parseInt(text, 10);
    return isNaN(n) ? null : n;
  }
  function yuan(f) {
    var s = String(f % 100);
    return Math.floor(f / 100).toLocaleString("en-US") + "." + (s.length < 2 ? "0" + s : s);
  }
  function unitPrice(option, quantity) {
    var best = fen(option.getAttribute("data-price"));
    var campaign = fen(option.getAttribute("data-campaign") || "");
    if (campaign !== null && campaign < best) best = campaign;
    (option.getAttribute("data-tiers") || "").split(",").forEach(function (pair) {
      var parts = pair.split(":");
      var min = fen(parts[0]), price = fen(parts[1]);
      if (min !== null && price !== null && quantity >= min && price < best) best = price;
    });
    return best;
  }
  document.querySelectorAll("select.sku-picker").forEach(function (select) {
    var qty = document.getElementById(select.getAttribute("data-qty"));
    var out = document.getElementById(select.getAttribute("data-total"));
    if (!qty || !out) return;
    function update() {
      var option = select.options[select.selectedIndex];
      var q = fen(qty.value);
      if (!option || !option.value || q === null || q < 1) {
        out.textContent = "";
        return;
      }
      var unit = unitPrice(option, q);
      out.textContent = (out.getAttribute("data-label") || "") + " ¥" + yuan(unit) + " × " + q + " = ¥" + yuan(unit * q);
    }
    select.addEventListener("change", update);
    qty.addEventListener("input", update);
    update();
  });
})();
