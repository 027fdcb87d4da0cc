// The scan counter. A USB/Bluetooth scanner "types" the code and Enter into the focused input; each
// scan is sent in the background, one after another, and the input is emptied and focused again at
// once so the next parcel can be scanned while the last one is still on its way. Each scan carries
// its own id, so a retry after a network error is applied once on the server. Without this script
// the form posts normally and the server shows the same result line.
(function () {
  var form = document.getElementById("scan-form");
  if (!form || !window.fetch || !window.FormData) return;
  var input = document.getElementById("scan-code");
  var status = document.getElementById("scan-status");
  var amount = document.getElementById("scan-amount");
  var amountField = document.getElementById("amount-field");
  var result = document.getElementById("scan-result");
  var log = document.getElementById("scan-log");
  var cameraButton = document.getElementById("scan-camera");
  var video = document.getElementById("scan-video");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var queue = [];
  var busy = false;

  function message(name) { return form.getAttribute("data-msg-" + name) || name; }

  function newScanId() {
    var bytes = new Uint8Array(8);
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  function vnd(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".") + " ₫"; }

  function refocus() {
    // Give the scanner its input back, unless staff are busy with the status or amount field.
    var active = document.activeElement;
    if (active === status || active === amount) return;
    input.focus();
  }

  function feedback(kind) {
    if (navigator.vibrate) navigator.vibrate(kind === "ok" ? 80 : kind === "same" ? [60, 60, 60] : [300, 100, 300]);
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      feedback.context = feedback.context || new Context();
      var oscillator = feedback.context.createOscillator();
      var gain = feedback.context.createGain();
      oscillator.frequency.value = kind === "ok" ? 1200 : kind === "same" ? 800 : 300;
      gain.gain.value = 0.08;
      oscillator.connect(gain);
      gain.connect(feedback.context.destination);
      oscillator.start();
      oscillator.stop(feedback.context.currentTime + (kind === "bad" ? 0.4 : 0.12));
    } catch (e) { /* no sound: the colour and the text still tell */ }
  }

  function show(entry) {
    result.className = "scan-result " + entry.kind;
    result.setAttribute("data-outcome", entry.outcome || "");
    result.textContent = entry.message;
    var item = document.createElement("li");
    item.className = entry.kind;
    item.setAttribute("data-outcome", entry.outcome || "");
    item.setAttribute("data-code", entry.code || "");
    var at = document.createElement("span");
    at.className = "at";
    at.textContent = entry.at || "";
    item.appendChild(at);
    item.appendChild(document.createTextNode(" " + entry.message));
    if (entry.recipient) {
      var small = document.createElement("small");
      small.textContent = " · " + entry.recipient + " · COD " + vnd(entry.cod_amount_vnd || 0);
      item.appendChild(small);
    }
    log.insertBefore(item, log.firstChild);
    while (log.children.length > 50) log.removeChild(log.lastChild);
    if (entry.tally) {
      ["ok", "same", "bad"].forEach(function (kind) {
        document.getElementById("tally-" + kind).textContent = entry.tally[kind] || 0;
      });
    }
    feedback(entry.kind);
  }

  function send(scan, attempt) {
    var body = new FormData();
    body.append("csrf_token", csrf);
    body.append("scan_id", scan.id);
    body.append("code", scan.code);
    body.append("status", scan.status);
    body.append("amount_vnd", scan.amount);
    if (scan.confirmed) body.append("amount_confirmed", "1");
    return fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) return { kind: "bad", outcome: "expired", code: scan.code, message: message("expired") };
        return response.json();
      })
      .catch(function () {
        // Same scan id on every try: the server applies it once however often it arrives.
        if (attempt < 3) return new Promise(function (resolve) { setTimeout(resolve, 800 * (attempt + 1)); })
          .then(function () { return send(scan, attempt + 1); });
        return { kind: "bad", outcome: "network", code: scan.code, message: scan.code + ": " + message("network") };
      });
  }

  function next() {
    if (busy || !queue.length) return;
    busy = true;
    var scan = queue.shift();
    send(scan, 0).then(function (entry) {
      show(entry);
      busy = false;
      refocus();
      next();
    });
  }

  function submit(code) {
    code = (code || "").replace(/\s+/g, "").toUpperCase();
    if (!code) { refocus(); return; }
    var confirmed = document.getElementById("scan-amount-confirmed");
    queue.push({ id: newScanId(), code: code, status: status.value, amount: amount.value, confirmed: !!(confirmed && confirmed.checked) });
    if (status.value === "cod_collected") amount.value = "";  // each parcel's cash is typed afresh
    if (confirmed) confirmed.checked = false;  // a differing amount is confirmed for one parcel only
    if (busy) { result.className = "scan-result idle"; result.textContent = message("sending"); }
    next();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = input.value;
    input.value = "";
    input.focus();
    submit(code);
  });

  // Enter in the amount field means "amount typed, now scan": go to the code, do not send an empty scan.
  amount.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); input.focus(); }
  });

  function showAmount() {
    amountField.hidden = status.value !== "cod_collected";
  }
  status.addEventListener("change", function () {
    showAmount();
    if (status.value === "cod_collected") amount.focus(); else input.focus();
  });
  showAmount();

  // A tap anywhere that is not a control brings the focus back to the scanner's input.
  document.addEventListener("click", function (event) {
    var tag = event.target.tagName;
    if (tag !== "SELECT" && tag !== "INPUT" && tag !== "BUTTON" && tag !== "A" && tag !== "OPTION" && tag !== "LABEL") refocus();
  });

  // Camera scanning where the browser has BarcodeDetector (Chrome on Android, among others).
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var cameraLabel = cameraButton.textContent;
  var stream = null;
  var detector = null;
  var lastCode = "";
  var lastAt = 0;
  cameraButton.hidden = false;

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    cameraButton.textContent = cameraLabel;
    refocus();
  }

  function detect() {
    if (!stream) return;
    detector.detect(video).then(function (codes) {
      var now = Date.now();
      for (var i = 0; i < codes.length; i++) {
        var value = (codes[i].rawValue || "").trim();
        // The camera sees the same label many times a second: one scan per code until it changes or 3 s pass.
        if (value && (value !== lastCode || now - lastAt > 3000)) {
          lastCode = value;
          lastAt = now;
          submit(value);
          break;
        }
      }
    }).catch(function () { /* a frame that could not be read */ })
      .then(function () { if (stream) setTimeout(detect, 250); });
  }

  cameraButton.addEventListener("click", function () {
    if (stream) { stopCamera(); return; }
    var wanted = ["code_128", "qr_code"];
    Promise.resolve(BarcodeDetector.getSupportedFormats ? BarcodeDetector.getSupportedFormats() : wanted)
      .then(function (supported) {
        detector = new BarcodeDetector({ formats: wanted.filter(function (f) { return supported.indexOf(f) !== -1; }) });
        return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        cameraButton.textContent = message("camera-stop");
        return video.play();
      })
      .then(detect)
      .catch(function () {
        stopCamera();
        result.className = "scan-result bad";
        result.textContent = message("camera-error");
      });
  });
})();
