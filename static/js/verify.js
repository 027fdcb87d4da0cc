// "Check it yourself": the browser redoes the server's verification (traceability/
// verification.py) on the proof file, with WebCrypto only. Trust comes from the page, not
// the file: the root certificate's SHA-256 and the log's name are in the button, so a
// forged file cannot bring its own root. The server's badge is never read.
(() => { // one scope, nothing global
"use strict";
const button = document.getElementById("self-verify-button");
const list = document.getElementById("self-verify-steps");
const out = document.getElementById("self-verify-result");
if (!button || !list || !out) return;
const LABELS = {
  root: "Chứng thư gốc của Liên minh", checkpoint: "Điểm kiểm tra nhật ký", records: "Danh sách bản ghi",
  signature: "Chữ ký", payload: "Nội dung", certificate: "Chứng thư số", key_status: "Trạng thái khoá",
  subject: "Đúng lô hàng", hash_chain: "Chuỗi băm", log_inclusion: "Nhật ký minh bạch",
};
const subtle = globalThis.crypto && crypto.subtle;
const ED = { name: "Ed25519" };
const ED_OID = [6, 3, 0x2b, 0x65, 0x70]; // 1.3.101.112, the whole AlgorithmIdentifier body
const UNSUPPORTED = "Trình duyệt này không tự kiểm tra được chữ ký (cần WebCrypto Ed25519).";
const oops = (why) => { throw new Error(why); };
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder("utf-8", { fatal: true }).decode(b);
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const join = (...parts) => {
  const r = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (r.set(p, at), at + p.length), 0);
  return r;
};
const sha256 = async (b) => new Uint8Array(await subtle.digest("SHA-256", b));

// Canonical base64 only (url: unpadded base64url), as on the server: one spelling per
// byte string, so a signed text cannot be respelled.
function b64(s, url) {
  if (typeof s !== "string" || !(url ? /^[\w-]*$/ : /^[A-Za-z0-9+/]*={0,2}$/).test(s)) oops("base64");
  if (url) s = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat(-s.length & 3);
  const bin = atob(s);
  if (btoa(bin) !== s) oops("base64");
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
const b64url = (b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

// Just enough DER for an Ed25519 certificate: signed part, names, dates and key.
function tlv(d, p, end) {
  let len = d[p + 1], q = p + 2;
  if (len & 0x80) { // long form; indefinite length is not DER
    const n = len & 0x7f;
    if (n < 1 || n > 3) oops("der");
    for (len = 0; q < p + 2 + n; q++) len = len * 256 + d[q];
  }
  if (d[p] === undefined || q + len > end) oops("der");
  return { tag: d[p], start: p, body: q, end: q + len };
}
function kids(d, n) {
  const r = [];
  for (let p = n.body; p < n.end; p = r[r.length - 1].end) r.push(tlv(d, p, n.end));
  return r;
}
function time(d, n) { // UTCTime YYMMDDHHMMSSZ (RFC 5280: 50-99 are 19xx) or GeneralizedTime
  const m = /^(\d\d)?(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(String.fromCharCode(...d.subarray(n.body, n.end)));
  if (!m || (n.tag === 0x17) !== !m[1]) oops("time");
  return Date.UTC(m[1] ? +(m[1] + m[2]) : +m[2] + (m[2] < 50 ? 2000 : 1900), m[3] - 1, m[4], m[5], m[6], m[7]);
}
function bits(d, n, size) { // a BIT STRING with no unused bits
  if (n.tag !== 3 || d[n.body] !== 0 || n.end - n.body !== size + 1) oops("bits");
  return d.subarray(n.body + 1, n.end);
}
const isEd = (d, alg) => alg.tag === 0x30 && same(d.subarray(alg.body, alg.end), ED_OID);
function parseCert(der) {
  const top = tlv(der, 0, der.length);
  if (top.tag !== 0x30 || top.end !== der.length) oops("cert");
  const [tbs, alg, sig] = kids(der, top), f = kids(der, tbs), i = f[0].tag === 0xa0 ? 1 : 0; // [0] version
  const [issuer, validity, subject, spki] = f.slice(i + 2, i + 6), [keyAlg, key] = kids(der, spki);
  if (!isEd(der, keyAlg)) oops("not Ed25519");
  const [notBefore, notAfter] = kids(der, validity).map((t) => time(der, t));
  const raw = (n) => der.subarray(n.start, n.end);
  return { der, tbs: raw(tbs), issuer: raw(issuer), subject: raw(subject), notBefore, notAfter,
    key: bits(der, key, 32), edSigned: isEd(der, alg), sig: bits(der, sig, 64) };
}

async function edVerify(key, sig, data) { // a key that cannot even be loaded verifies nothing
  try {
    return sig.length === 64 && (await subtle.verify(ED, await subtle.importKey("raw", key, ED, false, ["verify"]), sig, data));
  } catch (e) { return false; }
}
function parseTime(s) { // Python's isoformat; no zone means UTC, as on the server
  const m = typeof s === "string" && /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(s);
  const t = m ? Date.parse(`${m[1]}.${(m[2] || "").padEnd(3, "0").slice(0, 3)}${m[3] || "Z"}`) : NaN;
  return Number.isNaN(t) ? null : t;
}

// A C2SP signed note by the log key: the checkpoint, or an error naming the reason.
async function openCheckpoint(note, origin, key) {
  if (typeof note !== "string" || /[\0-\t\v-\x1f\x7f]/.test(note)) oops("malformed");
  const split = note.lastIndexOf("\n\n"), body = note.slice(0, split + 1), block = note.slice(split + 2);
  if (split < 0 || !block.endsWith("\n")) oops("malformed");
  // The key hash binds the name to the key: SHA-256(name 0x0A 0x01 key)[:4].
  const keyHash = (await sha256(join(enc(origin), [10, 1], key))).subarray(0, 4);
  let signed = false;
  for (const line of block.slice(0, -1).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line), blob = m ? b64(m[2]) : oops("malformed");
    if (blob.length <= 4) oops("malformed");
    if (m[1] !== origin || !same(blob.subarray(0, 4), keyHash)) continue; // a witness, not ours
    // Every line claiming our key must verify: a good one never excuses a forged one.
    if (!(await edVerify(key, blob.subarray(4), enc(body)))) oops("bad_signature");
    signed = true;
  }
  if (!signed) oops("unknown_key");
  const lines = body.slice(0, -1).split("\n"), root = b64(lines[2] || "");
  if (!/^(0|[1-9]\d*)$/.test(lines[1]) || root.length !== 32 || lines.slice(3).some((l) => !l)) oops("malformed");
  if (lines[0] !== origin) oops("wrong_log");
  return { size: Number(lines[1]), root, extensions: lines.slice(3) };
}

// RFC 9162 2.1.3.2, halving by division so that trees over 2^31 leaves work too.
async function proves(token, proof, cp) {
  try {
    const { index, tree_size: size } = proof, half = (x) => Math.floor(x / 2);
    if (size !== cp.size || !Number.isSafeInteger(index) || index < 0 || index >= size) return false;
    let fn = index, sn = size - 1, r = await sha256(join([0], enc(token)));
    for (const p of proof.proof.map((s) => b64(s, true))) {
      if (p.length !== 32 || sn === 0) return false;
      if (fn % 2 || fn === sn) {
        r = await sha256(join([1], p, r));
        while (fn % 2 === 0 && fn) { fn = half(fn); sn = half(sn); }
      } else r = await sha256(join([1], r, p));
      fn = half(fn); sn = half(sn);
    }
    return sn === 0 && same(r, cp.root);
  } catch (e) { return false; }
}
// A revoked key still vouches for what a checkpoint published before the revocation
// already held; the record's own validFrom proves nothing (a thief would backdate).
async function loggedBefore(token, dated, revokedAt, ctx) {
  try {
    const cp = await openCheckpoint(dated.checkpoint, ctx.origin, ctx.root.key);
    const line = cp.extensions.find((l) => l.startsWith("nongsan-time ")), at = line && parseTime(line.slice(13));
    return at != null && at < revokedAt && (await proves(token, dated, cp));
  } catch (e) { return false; }
}

// One record: the checks of _verify_credential, in its order, with its reason codes.
const PENDING_GRACE_MS = 5 * 1000; // traceability.verification.PENDING_GRACE
async function checkRecord(token, seq, ctx) {
  const step = (name, ok, reason, _seq, detail) => ctx.step(name, ok, reason, seq, detail);
  const parts = (token = String(token)).split("."), sha = hex(await sha256(enc(token)));
  let header, payload, sig, leaf;
  try {
    if (parts.length !== 3 || !parts[0]) oops("parts");
    header = JSON.parse(dec(b64(parts[0], true)));
    if (!header || typeof header.alg !== "string" || "crit" in header) oops("header");
    [payload, sig] = [b64(parts[1], true), b64(parts[2], true)];
    leaf = parseCert(b64(String((header.x5c || [""])[0])));
  } catch (e) { return step("signature", false, "malformed"), sha; }
  // The algorithm is pinned: whatever the header claims, only EdDSA can pass.
  const signed = header.alg === "EdDSA" && (await edVerify(leaf.key, sig, enc(parts[0] + "." + parts[1])));
  if (!step("signature", signed, "bad_signature")) return sha;
  try { payload = JSON.parse(dec(payload)); if (!payload || typeof payload !== "object") oops("payload"); }
  catch (e) { return step("payload", false, "malformed_payload"), sha; }

  const { root } = ctx, at = parseTime(payload.validFrom) ?? Date.now();
  const outside = (c) => (at < c.notBefore ? "not_yet_valid" : at > c.notAfter ? "expired" : null);
  let why = null; // none when the alliance signed with the root itself
  if (!same(leaf.der, root.der)) {
    if (!same(leaf.issuer, root.subject)) why = "issuer_mismatch";
    else if (!leaf.edSigned || !(await edVerify(root.key, leaf.sig, leaf.tbs))) why = "bad_issuer_signature";
    else why = outside(leaf) || outside(root);
  }
  step("certificate", !why, why);

  // Key states come from the file (revocation is news only the server has), but the key
  // must be the one that signed, and a revoked one needs a dated log proof.
  const kid = String(header.kid), key = ctx.keys.find((k) => k && k.kid === kid);
  const issuer = (payload.issuer || {}).id, proof = ctx.proofs[sha];
  why = null;
  if (!key || key.publicKey !== b64url(leaf.key)) why = "unknown_key";
  else if (issuer !== kid.split("#")[0]) why = "issuer_mismatch";
  else if (key.revokedAt && !(await loggedBefore(token, (proof || {}).dated, parseTime(key.revokedAt) ?? -Infinity, ctx))) why = "key_revoked";
  // Besides the post and the alliance, only the harvest's signer may add to a batch.
  else if (ctx.owner && issuer !== ctx.owner && (key.ownerKind || "cooperative") === "cooperative") why = "foreign_issuer";
  step("key_status", !why, why);
  if (!ctx.owner && typeof issuer === "string") ctx.owner = issuer;

  // About this batch: compared with the page's own link, not the file's gtin and lot.
  const s = (payload.credentialSubject || [{}])[0] || {};
  const ids = ["quantityList", "inputQuantityList", "outputQuantityList", "epcList"]
    .flatMap((k) => [].concat(s[k] || []).map((q) => q && (k === "epcList" ? q.id : q.productId)));
  step("subject", ids.some((p) => String(p ?? "").split("/21/")[0].endsWith(ctx.path)), "wrong_batch");

  const chain = payload.chain || {};
  if (chain.seq !== seq) step("hash_chain", false, chain.seq ? "reordered" : "broken_chain");
  else step("hash_chain", chain.previous === ctx.previous, "broken_chain");

  if (!ctx.checkpoint) step("log_inclusion", false, "bad_checkpoint");
  else if (!proof) step("log_inclusion", false, "not_in_log");
  else if (proof.pending === true) {
    // Logged after the latest checkpoint: accepted until the next one, as on the server, but
    // only if it can be that new (not signed before that checkpoint, give or take PENDING_GRACE).
    const line = ctx.checkpoint.extensions.find((l) => l.startsWith("nongsan-time ")), cpAt = line && parseTime(line.slice(13));
    const signedAt = parseTime(payload.validFrom);
    const fresh = Number.isSafeInteger(proof.index) && proof.index >= ctx.checkpoint.size && cpAt != null
      && signedAt != null && signedAt >= cpAt - PENDING_GRACE_MS;
    step("log_inclusion", fresh, "not_in_log", undefined, fresh ? "pending" : undefined);
  } else step("log_inclusion", await proves(token, proof, ctx.checkpoint), "bad_inclusion_proof");
  return sha;
}

async function verify(bundle, step) {
  let der = null;
  try { der = b64(String(bundle.rootCertificate).replace(/-----[^-]+-----|\s+/g, "")); } catch (e) { /* below */ }
  // Without the pinned root, every later step would only show that the file agrees with itself.
  const pin = (button.dataset.rootSha256 || "").toLowerCase();
  if (!step("root", der && pin.length === 64 && hex(await sha256(der)) === pin, "root_mismatch")) return;
  const root = parseCert(der);
  try { await subtle.importKey("raw", root.key, ED, false, ["verify"]); } catch (e) { oops(UNSUPPORTED); }
  // The alliance root key also signs the log: pinning the root pins the log.
  const log = bundle.log || {};
  const ctx = { step, root, origin: button.dataset.logOrigin || "", keys: [].concat(bundle.keys || []),
    proofs: Object(log.proofs || {}), checkpoint: null, previous: null, owner: null,
    path: (button.dataset.bundle || "").replace(/^.*?\/api\/bundle/, "").split("/21/")[0] };
  let why;
  try { ctx.checkpoint = await openCheckpoint(log.checkpoint, ctx.origin, root.key); } catch (e) { why = e.message; }
  step("checkpoint", ctx.checkpoint, "bad_checkpoint", 0, why);
  const records = bundle.credentials;
  if (!step("records", Array.isArray(records) && records.length, "no_credentials")) return;
  for (let i = 0; i < records.length; i++) ctx.previous = await checkRecord(records[i], i + 1, ctx);
}

const finish = (state, text) => {
  out.dataset.state = state;
  out.textContent = text;
  button.disabled = state === "running";
};
async function run() {
  finish("running", "Đang kiểm tra…");
  list.replaceChildren();
  const failures = [], pending = [];
  const step = (name, ok, reason, seq, detail) => {
    const li = document.createElement("li"), label = (seq ? `Bản ghi ${seq} · ` : "") + LABELS[name];
    Object.assign(li.dataset, { step: name, ok: !!ok }, seq ? { seq } : {}, ok ? {} : { reason },
      ok && detail === "pending" ? { pending: "true" } : {});
    const good = detail === "pending" ? "hợp lệ, đang chờ điểm kiểm tra nhật ký tiếp theo ✔" : "hợp lệ ✔";
    li.textContent = `${label}: ${ok ? good : `✘ ${reason}${detail ? ` (${detail})` : ""}`}`;
    if (ok && detail === "pending") pending.push(seq);
    if (!ok) failures.push(`${label} (${reason})`);
    list.append(li);
    return !!ok;
  };
  let bundle;
  try {
    if (!subtle) oops(UNSUPPORTED);
    const response = await fetch(button.dataset.bundle, { cache: "no-store" });
    bundle = response.ok ? await response.json() : oops("http");
  } catch (e) {
    return finish("error", e.message === UNSUPPORTED ? e.message : "Không tải được tệp bằng chứng. Hãy thử lại.");
  }
  try {
    await verify(Object(bundle), step);
  } catch (e) {
    if (e.message === UNSUPPORTED) return finish("error", e.message);
    step("records", false, "malformed"); // a file the parser cannot even read fails
  }
  const n = failures.length;
  finish(n ? "failed" : "ok", n ? `Phát hiện sai lệch ở bước ${failures[0]}${n > 1 ? ` và ${n - 1} bước khác` : ""}.`
    : pending.length ? `Đã tự kiểm tra: tất cả hợp lệ; ${pending.length} bản ghi mới đang chờ điểm kiểm tra nhật ký tiếp theo`
    : "Đã tự kiểm tra: tất cả hợp lệ");
  out.dataset.pending = String(pending.length);
}
button.addEventListener("click", () => run().catch(() => finish("error", "Đã xảy ra lỗi khi kiểm tra.")));
})();
