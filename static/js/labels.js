// Poll the label job until the worker has finished, moving the progress bar as it goes.
(function () {
  var box = document.getElementById("label-job");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  function show(state) {
    document.getElementById("label-progress").value = state.percent;
    document.getElementById("label-percent").textContent = state.percent;
    document.getElementById("label-status").textContent = state.status;
    if (state.warning && state.warning.indexOf("serials") !== 0) {
      var warning = document.getElementById("label-warning");
      warning.textContent = state.warning;
      warning.hidden = false;
    }
    if (state.error) {
      var error = document.getElementById("label-error");
      error.textContent = state.error;
      error.hidden = false;
    }
    if (state.download) document.getElementById("label-download").hidden = false;
    return state.status === "done" || state.status === "failed";
  }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (state) { if (!show(state)) setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
