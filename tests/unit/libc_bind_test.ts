/**
 * Symbols bound ahead of their first call (`bindNow`, for a Backup's takeover) work as
 * the lazily bound ones do, and the announcer's preparation never throws: what is wrong
 * is the first real announcement's to report.
 */
import assert from "node:assert/strict";
import { bindNow, libc, setTimerSlackNs } from "../../lib/sys/libc.ts";
import { PacketAnnouncer } from "../../lib/sys/announcer.ts";

Deno.test("bindNow: a symbol bound ahead answers like one bound at its first call, and twice is harmless", () => {
  bindNow("getpid", "sendto");
  const first = libc().getpid;
  assert.equal(first(), Deno.pid);
  bindNow("getpid");
  assert.equal(libc().getpid, first, "bound once, kept");
});

Deno.test("PacketAnnouncer.prepare never throws: a missing interface, or one without a MAC (lo)", () => {
  const a = new PacketAnnouncer();
  try {
    a.prepare("hc-no-such0", "garp", "192.0.2.100");
    a.prepare("lo", "garp", "192.0.2.100");
    a.prepare("lo", "na", "2001:db8::100");
  } finally {
    a.close();
  }
});

Deno.test("setTimerSlackNs sets this thread's timer slack, as PR_GET_TIMERSLACK reads it back", () => {
  // Read with prctl, not /proc/self: under `deno test` the JS does not run on the main thread.
  const get = () => libc().prctl(30, 0n, 0n, 0n, 0n); // PR_GET_TIMERSLACK
  const before = get();
  try {
    assert.equal(setTimerSlackNs(1000), true);
    assert.equal(get(), 1000);
  } finally {
    setTimerSlackNs(before);
  }
});
