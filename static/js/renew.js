// Progressive enhancement of the renewal form: when a period changes, say the
// new total (without alignment, which the server prices) and ask to update
// the prices before paying. Without JavaScript, "Update prices" does it all.
(function () {
  var form = document.getElementById("renew-form");
  if (!form) return;
  var pay = document.getElementById("pay");
  var estimate = document.getElementById("estimate");
  // Amounts in the currency's minor units (its places on the form: 0 for JPY,
  // 2 for USD, 3 for KWD), so no float rounding touches the sum.
  var places = parseInt(form.dataset.places || "2", 10);
  function minor(text) {
    var p = text.split(".");
    return parseInt(p[0], 10) * Math.pow(10, places) + parseInt(((p[1] || "") + "000").slice(0, places) || "0", 10);
  }
  function changed() {
    var total = 0;
    form.querySelectorAll("select[data-renew-period]").forEach(function (select) {
      total += minor(select.options[select.selectedIndex].dataset.amount);
    });
    var aligned = document.getElementById("align").checked && document.getElementById("align_day").value !== "";
    if (pay) pay.disabled = true;
    estimate.textContent = (aligned ? "About " : "New total: ") + (total / Math.pow(10, places)).toFixed(places) +
      (aligned ? " before alignment" : "") + ". Update the prices to pay.";
  }
  form.querySelectorAll("select[data-renew-period], #align_day, #align").forEach(function (el) {
    el.addEventListener("change", changed);
  });
  // Listening from here on (browser tests wait for this before changing a period).
  form.dataset.enhanced = "true";
})();
