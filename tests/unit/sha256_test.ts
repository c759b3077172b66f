/**
 * lib/cli/sha256.ts: FIPS 180-4's test vectors, agreement with WebCrypto across block
 * boundaries, and the pid file's tag the same as when it came from WebCrypto (a new
 * version must find the pid file an old one holds for the same config).
 */
import assert from "node:assert/strict";
import { sha256 } from "../../lib/cli/sha256.ts";
import { defaultPidFile, PID_DIR } from "../../lib/cli/pidfile.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("sha256: the standard's vectors", () => {
  assert.equal(
    hex(sha256(text(""))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    hex(sha256(text("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(sha256(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256: agrees with WebCrypto for every length around the block edges", async () => {
  for (let n = 0; n <= 200; n++) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
    const want = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    assert.equal(hex(sha256(data)), hex(want), `length ${n}`);
  }
});

Deno.test("the pid file's tag is WebCrypto's SHA-256 of the config's path, as before", async () => {
  // A path that does not exist is hashed as given.
  const path = "/nonexistent/hacore-tag-test/lb.toml";
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", text(path)));
  const tag = hex(digest.slice(0, 4));
  assert.equal(await defaultPidFile(path), `${PID_DIR}/lb-${tag}.pid`);
});
