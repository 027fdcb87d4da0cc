// Registry pages: refill the commune/ward list when the province changes (without script the
// form's "show communes" button or the filter button does the same through the server).
(function () {
  var province = document.getElementById("province_code");
  var ward = document.getElementById("ward_code");
  if (!province || !ward || province.disabled) return;
  var emptyLabel = ward.options.length ? ward.options[0].textContent : "—";
  province.addEventListener("change", function () {
    ward.innerHTML = "";
    var empty = document.createElement("option");
    empty.value = "";
    empty.textContent = emptyLabel;
    ward.appendChild(empty);
    if (!province.value) return;
    fetch("/api/wards/" + encodeURIComponent(province.value), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        list.forEach(function (w) {
          var option = document.createElement("option");
          option.value = w.code;
          option.textContent = w.name;
          ward.appendChild(option);
        });
      });
  });
})();
