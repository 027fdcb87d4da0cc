// Offline label check: a QR code may end in #v1.<base64url> (traceability/compact.py), which no
// server sees. Checked with WebCrypto and the page's root key; no request is made.
(() => {
"use strict";
const $ = (id) => document.getElementById(id);
const versions = $("qr-versions"); // the back office: the QR version each code costs
if (versions) {
  return versions.querySelectorAll("[data-info]").forEach((span) => fetch(span.dataset.info)
    .then((r) => r.json()).then((info) => info.version || "?", () => "?").then((v) => { span.textContent = v; }));
}
const box = $("offline-summary"), out = $("offline-result"), list = $("offline-fields");
if (!box || !out || !list) return;
const subtle = globalThis.crypto && crypto.subtle, ED = { name: "Ed25519" }, DAY = 864e5;
const KEYS = ["g", "l", "n", "h", "c", "t"], DATE = /^\d{4}-\d\d-\d\d$/;
const SHOWN = [["n", "Sản phẩm"], ["c", "Hợp tác xã"], ["h", "Ngày thu hoạch"], ["g", "Mã GTIN"], ["l", "Số lô"],
  ["t", "Ngày cấp nhãn"], ["e", "Khoá hiệu lực đến"]];
const WHY = { malformed: "dữ liệu hỏng", bad_key_statement: "khoá không được Liên minh chứng nhận",
  key_expired: "chứng nhận khoá đã hết hạn", bad_signature: "chữ ký sai", wrong_batch: "nhãn của lô khác" };
const UNSUPPORTED = "Trình duyệt này không tự kiểm tra được chữ ký (cần WebCrypto Ed25519).";
const fail = (why) => { throw new Error(why); };
const enc = (s) => new TextEncoder().encode(s);
const join = (...parts) => new Uint8Array(parts.flatMap((p) => [...p]));
function b64(s) { // canonical only, as crypto.b64url_decode
  if (!/^[\w-]*$/.test(s) || s.length % 4 === 1) fail("malformed");
  const t = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat(-s.length & 3), bin = atob(t);
  return btoa(bin) === t ? Uint8Array.from(bin, (c) => c.charCodeAt(0)) : fail("malformed");
}
const len = (s) => [...s].length; // as Python counts
const valid = (s) => !!s && Object.keys(s).join() === KEYS.join()
  && KEYS.every((k) => typeof s[k] === "string" && !/[\0-\x1f\x7f]|\p{Cs}/u.test(s[k]))
  && /^\d{14}$/.test(s.g) && len(s.l) > 0 && len(s.l) <= 20 && len(s.n) <= 48 && len(s.c) <= 48
  && DATE.test(s.h) && DATE.test(s.t);
const verifies = (key, sig, data) => subtle.importKey("raw", key, ED, false, ["verify"])
  .then((k) => subtle.verify(ED, k, sig, data)).catch(() => false);

// compact.open_fragment's checks, order and reasons.
async function open(fragment, root) {
  const d = b64((/^v1\.(.*)$/s.exec(fragment) || fail("malformed"))[1]);
  if (d.length <= 164) fail("malformed");
  const key = d.subarray(0, 32), expiry = d.subarray(32, 36), body = d.subarray(164);
  let s, text;
  try { s = JSON.parse(text = new TextDecoder("utf-8", { fatal: true }).decode(body)); } catch (e) { fail("malformed"); }
  // The one canonical spelling: no duplicate keys, other orders or escapes.
  if (!valid(s) || JSON.stringify(s) !== text) fail("malformed");
  const kid = new Uint8Array(await subtle.digest("SHA-256", key)).subarray(0, 8);
  if (!(await verifies(root, d.subarray(36, 100), join(enc("nongsan/key/v1"), key, expiry, kid)))) fail("bad_key_statement");
  const days = new DataView(expiry.buffer, expiry.byteOffset, 4).getUint32(0);
  if (Math.floor(Date.now() / DAY) > days) fail("key_expired");
  if (!(await verifies(key, d.subarray(100, 164), join(enc("nongsan/summary/v1"), body)))) fail("bad_signature");
  if (s.g !== box.dataset.gtin || s.l !== box.dataset.lot) fail("wrong_batch");
  return Object.assign(s, { e: new Date(days * DAY).toISOString().slice(0, 10) });
}

function show(state, text, summary, reason = "") {
  Object.assign(box.dataset, { state, reason });
  out.textContent = text;
  list.replaceChildren(...(summary ? SHOWN : []).flatMap(([k, label]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = "hte".includes(k) ? summary[k].split("-").reverse().join("/") : summary[k];
    dd.dataset.field = k;
    return [dt, dd];
  }));
  box.hidden = state === "idle";
}
let runs = 0;
async function check() {
  const run = ++runs, fragment = location.hash.slice(1);
  if (!/^v\d+\./.test(fragment)) return show("idle", ""); // e.g. #report
  let summary, why;
  try {
    const root = b64(box.dataset.rootKey || "");
    if (!subtle || root.length !== 32) fail(UNSUPPORTED);
    await subtle.importKey("raw", root, ED, false, ["verify"]).catch(() => fail(UNSUPPORTED));
    summary = await open(fragment, root);
  } catch (e) { why = Object.hasOwn(WHY, e.message) || e.message === UNSUPPORTED ? e.message : "malformed"; }
  if (run !== runs) return; // a newer label came
  if (why === UNSUPPORTED) return show("error", why);
  if (why) return show("failed", `✘ Nhãn không hợp lệ: ${WHY[why]} (${why}).`, null, why);
  show("ok", `✔ Nhãn hợp lệ, do ${summary.c} ký (kiểm tra trên máy, không cần mạng).`, summary);
}
const run = () => check().catch(() => show("error", "Đã xảy ra lỗi khi kiểm tra nhãn."));
addEventListener("hashchange", run);
run();
})();
