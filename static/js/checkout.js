// Fill the commune/ward list when a province is chosen (the no-JS fallback reloads the page).
(function () {
  var province = document.getElementById("province_code");
  var ward = document.getElementById("ward_code");
  if (!province || !ward) return;
  province.addEventListener("change", function () {
    ward.innerHTML = "<option value=\"0\">—</option>";
    if (province.value === "0") return;
    fetch("/api/wards/" + encodeURIComponent(province.value))
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
