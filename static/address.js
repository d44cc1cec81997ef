// Address forms: the province / city / county inputs suggest the national administrative
// divisions (GB/T 2260 codes in /static/divisions.json), each list narrowed by the level above,
// and the county's code is kept with the address. At checkout, a saved address fills the form.
(function () {
  var picker = document.querySelector(".division-picker");
  if (picker) {
    var province = document.getElementById("addr-province");
    var city = document.getElementById("addr-city");
    var district = document.getElementById("addr-district");
    var code = document.getElementById("addr-division");
    var lists = {
      province: document.getElementById("division-provinces"),
      city: document.getElementById("division-cities"),
      district: document.getElementById("division-districts"),
    };
    var names = null;

    function fill(list, codes) {
      while (list.firstChild) list.removeChild(list.firstChild);
      codes.forEach(function (c) {
        var option = document.createElement("option");
        option.value = names[c];
        list.appendChild(option);
      });
    }
    function codesOf(length, prefix) {
      return Object.keys(names).filter(function (c) {
        return c.length === length && c.indexOf(prefix) === 0;
      });
    }
    function find(length, prefix, name) {
      var found = codesOf(length, prefix).filter(function (c) { return names[c] === name.trim(); });
      return found.length ? found[0] : null;
    }
    function update() {
      if (!names) return;
      var p = find(2, "", province.value);
      fill(lists.city, p ? codesOf(4, p) : []);
      var c = p ? find(4, p, city.value) : null;
      fill(lists.district, c ? codesOf(6, c) : []);
      var d = c ? find(6, c, district.value) : null;
      if (code) code.value = d || "";
    }
    fetch(picker.getAttribute("data-divisions"))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        names = data;
        fill(lists.province, codesOf(2, ""));
        update();
      })
      .catch(function () { /* the inputs still take typed text */ });
    [province, city, district].forEach(function (input) { input.addEventListener("change", update); });
    [province, city].forEach(function (input) { input.addEventListener("input", update); });
  }

  var saved = document.getElementById("saved-address");
  if (saved) {
    saved.addEventListener("change", function () {
      var option = saved.options[saved.selectedIndex];
      if (!option) return;
      ["name", "mobile", "province", "city", "district", "detail"].forEach(function (field) {
        var input = document.getElementById("addr-" + field);
        if (input) input.value = option.getAttribute("data-" + field) || "";
      });
      if (picker) province.dispatchEvent(new Event("change"));
    });
  }
})();
