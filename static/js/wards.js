// Province → commune/ward picker for every form that asks for an address (checkout, the
// cooperative application, the registry). When the province changes, the commune list is
// refilled from /api/wards; the list's first option (its placeholder) is kept. Without script,
// each form has a server-side way to show the communes.
(function () {
  var province = document.getElementById("province_code");
  var ward = document.getElementById("ward_code");
  if (!province || !ward || province.disabled) return;
  var placeholder = ward.options.length ? ward.options[0].cloneNode(true) : document.createElement("option");
  province.addEventListener("change", function () {
    ward.innerHTML = "";
    ward.appendChild(placeholder.cloneNode(true));
    if (!province.value || province.value === "0") return;
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
