// Ask for the postage once a commune is known (wards.js fills the commune list).
(function () {
  var province = document.getElementById("province_code");
  var ward = document.getElementById("ward_code");
  var amount = document.getElementById("quote-amount");
  if (!province || !ward) return;
  function vnd(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".") + " ₫"; }
  var items = document.getElementById("quote-items");
  // "(by weight 30.000 ₫ · VAT 2.400 ₫)": the labels come translated from the page.
  function itemised(parts) {
    var shown = [["base_fee", "baseFee"], ["cod_fee", "codFee"], ["surcharge", "surcharge"], ["vat", "vat"]]
      .filter(function (p) { return parts[p[0]] > 0; })
      .map(function (p) { return items.dataset[p[1]] + " " + vnd(parts[p[0]]); });
    return shown.length ? " (" + shown.join(" · ") + ")" : "";
  }
  function payment() {
    var chosen = document.querySelector("input[name=payment_method]:checked");
    return chosen ? chosen.value : "cod";
  }
  function quote() {
    if (!amount || province.value === "0" || ward.value === "0") return;
    amount.textContent = "…";
    fetch("/api/quote?province=" + encodeURIComponent(province.value) + "&ward=" + encodeURIComponent(ward.value) +
          "&payment=" + payment(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        amount.textContent = data.shipping_vnd !== undefined ? vnd(data.shipping_vnd) : data.error;
        if (items) items.textContent = data.items_vnd ? itemised(data.items_vnd) : "";
      })
      .catch(function () { amount.textContent = "—"; });
  }
  ward.addEventListener("change", quote);
  document.querySelectorAll("input[name=payment_method]").forEach(function (r) { r.addEventListener("change", quote); });
  quote();
})();
