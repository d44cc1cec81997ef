// Product page: the bar at the bottom shows the price of the SKU chosen in it.
(function () {
  var select = document.getElementById("bar-sku");
  var now = document.getElementById("bar-now");
  var list = document.getElementById("bar-list");
  if (!select || !now) return;
  select.addEventListener("change", function () {
    var option = select.options[select.selectedIndex];
    if (!option) return;
    now.textContent = option.getAttribute("data-price") || "";
    if (list) {
      list.textContent = option.getAttribute("data-list") || "";
      list.parentNode.hidden = option.getAttribute("data-discounted") !== "1";
    }
  });
})();
