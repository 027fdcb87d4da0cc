// "Check it yourself": the buyer's own browser re-does the server's verification
// (traceability/verification.py) on the downloadable proof file, with WebCrypto only.
// The one thing taken from the page instead of the file is the SHA-256 of the alliance
// root certificate (and the log's name): a forged file cannot bring its own root.
// The result never looks at the server's badge (#verification).
(() => {
  "use strict";
  const button = document.getElementById("self-verify-button");
  const list = document.getElementById("self-verify-steps");
  const result = document.getElementById("self-verify-result");
  if (!button || !list || !result) return;

  const LABELS = {
    root: "Chứng thư gốc của Liên minh", checkpoint: "Điểm kiểm tra của nhật ký",
    records: "Danh sách bản ghi", signature: "Chữ ký", payload: "Nội dung bản ghi",
    certificate: "Chứng thư số", key_status: "Trạng thái khoá ký", subject: "Đúng lô hàng",
    hash_chain: "Chuỗi băm", log_inclusion: "Nhật ký minh bạch",
  };
  const subtle = globalThis.crypto && crypto.subtle;
  const utf8 = new TextEncoder();
  const ED25519_OID = [0x06, 0x03, 0x2b, 0x65, 0x70]; // 1.3.101.112, the whole AlgorithmIdentifier body
  class Unsupported extends Error {}

  // -- bytes ----------------------------------------------------------------------------
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const join = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const sha256 = async (b) => new Uint8Array(await subtle.digest("SHA-256", b));
  const text = (b) => new TextDecoder("utf-8", { fatal: true }).decode(b);

  // Strict, canonical base64 (url=true: unpadded base64url, as JOSE). Like the server,
  // refuse a second spelling of the same bytes, so a signed value has one text form.
  function b64(s, url) {
    if (typeof s !== "string" || !(url ? /^[A-Za-z0-9_-]*$/ : /^[A-Za-z0-9+/]*={0,2}$/).test(s)) throw new Error("base64");
    if (url) s = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4);
    const bin = atob(s);
    if (btoa(bin) !== s) throw new Error("base64");
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  const b64url = (b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  // -- minimal DER: enough of X.509 to find the signed part, the names, dates and key ----
  function tlv(d, p) {
    let len = d[p + 1], q = p + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n < 1 || n > 3) throw new Error("der");
      for (len = 0; q < p + 2 + n; q++) len = len * 256 + d[q];
    }
    if (d[p] === undefined || q + len > d.length) throw new Error("der");
    return { tag: d[p], start: p, body: q, end: q + len };
  }
  function kids(d, node) {
    const out = [];
    for (let p = node.body; p < node.end; p = out[out.length - 1].end) out.push(tlv(d, p));
    return out;
  }
  const raw = (d, n) => d.subarray(n.start, n.end);
  function derTime(d, n) {
    const s = String.fromCharCode(...d.subarray(n.body, n.end));
    const m = (n.tag === 0x17 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/ : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/).exec(s);
    if (!m) throw new Error("time");
    let y = +m[1];
    if (n.tag === 0x17) y += y < 50 ? 2000 : 1900; // RFC 5280 4.1.2.5.1
    return Date.UTC(y, m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  }
  // An Ed25519 signature or key in a BIT STRING: no unused bits, then the bytes.
  function bits(d, n, size) {
    if (n.tag !== 0x03 || d[n.body] !== 0 || n.end - n.body !== size + 1) throw new Error("bits");
    return d.subarray(n.body + 1, n.end);
  }
  const isEd25519 = (d, alg) => alg.tag === 0x30 && same(d.subarray(alg.body, alg.end), ED25519_OID);
  function parseCert(der) {
    const top = tlv(der, 0);
    if (top.tag !== 0x30 || top.end !== der.length) throw new Error("cert");
    const [tbs, alg, sig] = kids(der, top);
    const f = kids(der, tbs);
    const i = f[0].tag === 0xa0 ? 1 : 0; // optional [0] version
    const [issuer, validity, subject, spki] = f.slice(i + 2, i + 6);
    const [keyAlg, keyBits] = kids(der, spki);
    if (!isEd25519(der, keyAlg)) throw new Error("not Ed25519");
    const [notBefore, notAfter] = kids(der, validity).map((t) => derTime(der, t));
    return {
      der, tbs: raw(der, tbs), issuer: raw(der, issuer), subject: raw(der, subject), notBefore, notAfter,
      key: bits(der, keyBits, 32), edSigned: isEd25519(der, alg), sig: bits(der, sig, 64),
    };
  }
  const pemToDer = (pem) => b64(String(pem).replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));

  // Any failure to import or verify (bad point, wrong length) is just "does not verify".
  async function edVerify(key, sig, data) {
    try {
      const k = await subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
      return sig.length === 64 && (await subtle.verify({ name: "Ed25519" }, k, sig, data));
    } catch (e) { return false; }
  }

  // ISO 8601 as Python writes it (up to microseconds); no zone means UTC, as on the server.
  function parseTime(s) {
    const m = typeof s === "string" && /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(s);
    if (!m) return null;
    const t = Date.parse(m[1] + "." + (m[2] || "0").padEnd(3, "0").slice(0, 3) + (m[3] || "Z"));
    return Number.isNaN(t) ? null : t;
  }

  // -- the log: C2SP signed note + RFC 9162 inclusion -------------------------------------
  async function openCheckpoint(note, origin, key) {
    const fail = (why) => { throw new Error(why); };
    if (typeof note !== "string" || /[\x00-\x09\x0b-\x1f\x7f]/.test(note)) fail("malformed");
    const split = note.lastIndexOf("\n\n");
    if (split < 0) fail("malformed");
    const body = note.slice(0, split + 1), block = note.slice(split + 2);
    if (!block.endsWith("\n")) fail("malformed");
    // The key hash ties the signer's name to its key: SHA-256(name \n 0x01 key)[:4].
    const keyHash = (await sha256(join(utf8.encode(origin), [0x0a, 0x01], key))).subarray(0, 4);
    let verified = false;
    for (const line of block.slice(0, -1).split("\n")) {
      if (!line.startsWith("\u2014 ")) fail("malformed");
      const rest = line.slice(2), gap = rest.indexOf(" ");
      let blob;
      try { blob = b64(rest.slice(gap + 1)); } catch (e) { fail("malformed"); }
      if (gap < 1 || blob.length <= 4) fail("malformed");
      if (rest.slice(0, gap) !== origin || !same(blob.subarray(0, 4), keyHash)) continue; // a witness, not ours
      // Every line claiming our key must verify: one good signature never excuses a bad one.
      if (!(await edVerify(key, blob.subarray(4), utf8.encode(body)))) fail("bad_signature");
      verified = true;
    }
    if (!verified) fail("unknown_key");
    const lines = body.slice(0, -1).split("\n");
    if (lines.length < 3 || !/^(0|[1-9]\d*)$/.test(lines[1]) || lines.slice(3).some((l) => !l)) fail("malformed");
    if (lines[0] !== origin) fail("wrong_log");
    const root = b64(lines[2]);
    if (root.length !== 32) fail("malformed");
    return { size: Number(lines[1]), root, extensions: lines.slice(3) };
  }

  const leafHash = (token) => sha256(join([0], utf8.encode(token)));
  const nodeHash = (l, r) => sha256(join([1], l, r));
  // RFC 9162 2.1.3.2, using division rather than bit shifts so sizes above 2^31 still work.
  async function included(leaf, index, size, path, root) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
    let fn = index, sn = size - 1, r = leaf;
    const half = (x) => Math.floor(x / 2);
    for (const p of path) {
      if (p.length !== 32 || sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn); sn = half(sn);
    }
    return sn === 0 && same(r, root);
  }
  // A proof {index, tree_size, proof[]} against an opened checkpoint.
  async function proves(token, proof, checkpoint) {
    try {
      return proof.tree_size === checkpoint.size && (await included(
        await leafHash(token), proof.index, checkpoint.size, proof.proof.map((p) => b64(p, true)), checkpoint.root));
    } catch (e) { return false; }
  }
  // A revoked key still vouches for what a checkpoint signed before the revocation had
  // already logged; the credential's own validFrom is no evidence (a thief would backdate).
  async function loggedBefore(token, dated, revokedAt, ctx) {
    try {
      const cp = await openCheckpoint(dated.checkpoint, ctx.origin, ctx.root.key);
      const time = cp.extensions.map((l) => /^nongsan-time (.+)$/.exec(l)).find(Boolean);
      const published = time && parseTime(time[1]);
      return published !== null && published !== undefined && published < revokedAt && (await proves(token, dated, cp));
    } catch (e) { return false; }
  }

  // -- one credential, the same checks in the same order as _verify_credential ------------
  async function checkCredential(token, seq, ctx) {
    const step = (name, ok, reason) => ctx.step(name, ok, reason, seq);
    token = String(token);
    const sha = hex(await sha256(utf8.encode(token)));
    let header, payload, input, sig, leaf;
    try {
      const parts = token.split(".");
      if (parts.length !== 3 || !parts[0]) throw new Error("parts");
      header = JSON.parse(text(b64(parts[0], true)));
      if (!header || typeof header !== "object" || typeof header.alg !== "string" || "crit" in header) throw new Error("header");
      payload = b64(parts[1], true);
      sig = b64(parts[2], true);
      input = utf8.encode(parts[0] + "." + parts[1]);
      leaf = parseCert(b64(String((header.x5c || [""])[0])));
    } catch (e) { step("signature", false, "malformed"); return sha; }
    // The algorithm is pinned: whatever the header says, only EdDSA verifies.
    if (!step("signature", header.alg === "EdDSA" && (await edVerify(leaf.key, sig, input)), "bad_signature")) return sha;
    try {
      payload = JSON.parse(text(payload));
      if (!payload || typeof payload !== "object") throw new Error("payload");
    } catch (e) { step("payload", false, "malformed_payload"); return sha; }

    const root = ctx.root;
    const signedAt = parseTime(payload.validFrom) ?? Date.now();
    const validity = (c) => (signedAt < c.notBefore ? "not_yet_valid" : signedAt > c.notAfter ? "expired" : null);
    let certProblem = null; // none when the alliance signed with its root itself
    if (!same(leaf.der, root.der)) {
      if (!same(leaf.issuer, root.subject)) certProblem = "issuer_mismatch";
      else if (!leaf.edSigned || !(await edVerify(root.key, leaf.sig, leaf.tbs))) certProblem = "bad_issuer_signature";
      else certProblem = validity(root) || validity(leaf);
    }
    step("certificate", !certProblem, certProblem);

    // Key status comes from the file (revocations are the server's news), but the key must
    // be the very key that signed, and a revoked key only counts with a dated log proof.
    const kid = String(header.kid);
    const key = ctx.keys.find((k) => k && k.kid === kid);
    const issuer = (payload.issuer || {}).id;
    const proof = ctx.proofs[sha];
    let keyProblem = null;
    if (!key || key.publicKey !== b64url(leaf.key)) keyProblem = "unknown_key";
    else if (issuer !== kid.split("#")[0]) keyProblem = "issuer_mismatch";
    else if (key.revokedAt && !(await loggedBefore(token, (proof || {}).dated, parseTime(key.revokedAt) ?? -Infinity, ctx))) keyProblem = "key_revoked";
    // Only the batch's owner (the harvest's signer) may add to it, besides the post and the alliance.
    else if (ctx.owner && issuer !== ctx.owner && (key.ownerKind || "cooperative") === "cooperative") keyProblem = "foreign_issuer";
    step("key_status", !keyProblem, keyProblem);
    if (!ctx.owner && typeof issuer === "string") ctx.owner = issuer;

    // The record must be about this batch: the page's own link, not the file's gtin/lot.
    const subject = (payload.credentialSubject || [{}])[0] || {};
    const ids = (subject.quantityList || subject.inputQuantityList || []).map((q) => q && q.productId)
      .concat((subject.epcList || []).map((e) => e && e.id));
    step("subject", ids.some((p) => String(p ?? "").split("/21/")[0].endsWith(ctx.path)), "wrong_batch");

    const chain = payload.chain || {};
    if (chain.seq !== seq) step("hash_chain", false, chain.seq ? "reordered" : "broken_chain");
    else step("hash_chain", chain.previous === ctx.previous, "broken_chain");

    if (!ctx.checkpoint) step("log_inclusion", false, "bad_checkpoint");
    else if (!proof) step("log_inclusion", false, "not_in_log");
    else step("log_inclusion", await proves(token, proof, ctx.checkpoint), "bad_inclusion_proof");
    return sha;
  }

  // -- the whole file -----------------------------------------------------------------------
  async function verify(bundle, step) {
    let rootDer = null;
    try { rootDer = pemToDer(bundle.rootCertificate); } catch (e) { /* reported below */ }
    const pinned = (button.dataset.rootSha256 || "").toLowerCase();
    // Without the right root every later check would only prove the file agrees with itself.
    if (!step("root", !!rootDer && pinned.length === 64 && hex(await sha256(rootDer)) === pinned, "root_mismatch")) return;
    const root = parseCert(rootDer);
    try {
      await subtle.importKey("raw", root.key, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) { throw new Unsupported("Ed25519"); }

    // The log is signed by the alliance root key, so the pinned root also pins the log.
    const log = bundle.log || {};
    const ctx = {
      step, root, origin: button.dataset.logOrigin || "", keys: Array.isArray(bundle.keys) ? bundle.keys : [],
      proofs: log.proofs && typeof log.proofs === "object" ? log.proofs : {}, checkpoint: null, previous: null, owner: null,
      path: (button.dataset.bundle || "").replace(/^.*?\/api\/bundle/, "").split("/21/")[0],
    };
    let why = null;
    try { ctx.checkpoint = await openCheckpoint(log.checkpoint, ctx.origin, root.key); } catch (e) { why = e.message; }
    step("checkpoint", !!ctx.checkpoint, "bad_checkpoint", 0, why);

    const credentials = bundle.credentials;
    if (!step("records", Array.isArray(credentials) && credentials.length > 0, "no_credentials")) return;
    for (let i = 0; i < credentials.length; i++) ctx.previous = await checkCredential(credentials[i], i + 1, ctx);
  }

  function finish(state, message) {
    result.dataset.state = state;
    result.textContent = message;
    button.disabled = false;
  }

  async function run() {
    button.disabled = true;
    list.replaceChildren();
    result.dataset.state = "running";
    result.textContent = "Đang kiểm tra…";
    const failures = [];
    const step = (name, ok, reason, seq, detail) => {
      const li = document.createElement("li");
      const label = (seq ? `Bản ghi ${seq} · ` : "") + LABELS[name];
      li.dataset.step = name;
      if (seq) li.dataset.seq = String(seq);
      li.dataset.ok = String(!!ok);
      if (!ok) {
        li.dataset.reason = reason;
        failures.push(`${label} (${reason})`);
      }
      li.textContent = `${label}: ${ok ? "hợp lệ ✔" : `✘ ${reason}${detail ? ` · ${detail}` : ""}`}`;
      list.append(li);
      return !!ok;
    };
    let bundle;
    try {
      if (!subtle) throw new Unsupported("WebCrypto");
      const response = await fetch(button.dataset.bundle, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      bundle = await response.json();
    } catch (e) {
      return finish("error", e instanceof Unsupported ? "Trình duyệt này không tự kiểm tra được chữ ký (cần WebCrypto Ed25519)."
        : "Không tải được tệp bằng chứng. Hãy thử lại.");
    }
    try {
      if (!bundle || typeof bundle !== "object") throw new Error("bundle");
      await verify(bundle, step);
    } catch (e) {
      if (e instanceof Unsupported) return finish("error", "Trình duyệt này không tự kiểm tra được chữ ký (cần WebCrypto Ed25519).");
      step("records", false, "malformed"); // a file our parser cannot even read is a failed file
    }
    if (failures.length) {
      finish("failed", `Phát hiện sai lệch ở bước ${failures[0]}` + (failures.length > 1 ? ` và ${failures.length - 1} bước khác.` : "."));
    } else {
      finish("ok", "Đã tự kiểm tra: tất cả hợp lệ");
    }
  }

  button.addEventListener("click", () => { run().catch(() => finish("error", "Đã xảy ra lỗi khi kiểm tra.")); });
})();
