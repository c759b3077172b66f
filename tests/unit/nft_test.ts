import assert from "node:assert/strict";
import { buildGetTable, NftAcceptFilter, nftBatch } from "../../lib/sys/nft.ts";

Deno.test("nftBatch with no address only removes the table (idempotently)", () => {
  assert.equal(nftBatch([]), "add table inet hacore\ndelete table inet hacore\n");
});

Deno.test("nftBatch replaces the table whole: sets per family, ND let through, duplicates once", () => {
  const b = nftBatch(["192.0.2.11", "fe80::1", "192.0.2.10", "192.0.2.11"]);
  assert.ok(b.startsWith("add table inet hacore\ndelete table inet hacore\ntable inet hacore {\n"));
  assert.match(
    b,
    /set vips4 \{\n {4}type ipv4_addr\n {4}elements = \{ 192\.0\.2\.10, 192\.0\.2\.11 \}\n/,
  );
  assert.match(b, /set vips6 \{\n {4}type ipv6_addr\n {4}elements = \{ fe80::1 \}\n/);
  assert.match(
    b,
    /ip6 daddr @vips6 icmpv6 type \{ nd-neighbor-solicit, nd-neighbor-advert \} accept\n {4}ip6 daddr @vips6 counter drop/,
  );
  assert.throws(() => nftBatch(["eth0"]), RangeError);
});

Deno.test("NftAcceptFilter writes the latest set once, skips repeats, retries after a failure", async () => {
  const batches: string[] = [];
  const errors: string[] = [];
  let fail = false;
  const filter = new NftAcceptFilter({
    onError: (m) => errors.push(m),
    run: (batch) => {
      batches.push(batch);
      return Promise.resolve(fail ? "boom" : null);
    },
  });
  filter.set([]);
  filter.set(["192.0.2.10"]); // while the first write runs: only the latest follows
  filter.set(["192.0.2.10"]);
  await filter.idle();
  assert.equal(batches.length, 2);
  assert.match(batches[1], /192\.0\.2\.10/);
  filter.set(["192.0.2.10"]);
  await filter.idle();
  assert.equal(batches.length, 2, "an unchanged set writes nothing");
  fail = true;
  filter.set(["192.0.2.20"]);
  await filter.idle();
  assert.match(errors[0], /cannot write table inet hacore \(no_accept\): boom/);
  fail = false;
  filter.set(["192.0.2.20"]);
  await filter.idle();
  assert.equal(batches.length, 4, "the same set is written again after a failure");
  await filter.close();
  assert.equal(batches.at(-1), nftBatch([]));
  filter.set(["192.0.2.30"]);
  await filter.idle();
  assert.equal(batches.length, 5, "nothing is written after close");
});

Deno.test("NftAcceptFilter: where nft cannot make the table, a run that never wrote one says so quietly and starts nothing at stop", async () => {
  const batches: string[] = [];
  const loud: string[] = [];
  const quiet: string[] = [];
  const filter = new NftAcceptFilter({
    onError: (m) => loud.push(m),
    onQuietError: (m) => quiet.push(m),
    run: (batch) => {
      batches.push(batch);
      return Promise.resolve("Error: Could not process rule: Operation not supported");
    },
  });
  filter.set([]);
  await filter.idle();
  assert.deepEqual(loud, []);
  assert.equal(quiet.length, 1);
  filter.set(["192.0.2.10"]);
  await filter.idle();
  assert.equal(loud.length, 1, "a table hacore needs and cannot write is a warning");
  await filter.close();
  assert.equal(loud.length, 1, "removing what was never written is quiet");
  assert.equal(quiet.length, 2);
});

Deno.test("NftAcceptFilter: a stop after the table was already removed starts no nft", async () => {
  const batches: string[] = [];
  const filter = new NftAcceptFilter({
    onError: () => {},
    run: (batch) => {
      batches.push(batch);
      return Promise.resolve(null);
    },
  });
  filter.set([]);
  await filter.idle();
  await filter.close();
  assert.equal(batches.length, 1);
});

/** A filter whose writes only record their batches, holding a leftover removal. */
function recordingFilter(leftoverDelayMs: number): { filter: NftAcceptFilter; batches: string[] } {
  const batches: string[] = [];
  const filter = new NftAcceptFilter({
    onError: () => {},
    holdLeftover: true,
    leftoverDelayMs,
    run: (batch) => {
      batches.push(batch);
      return Promise.resolve(null);
    },
  });
  return { filter, batches };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("NftAcceptFilter holding the leftover removal: it waits for the release and its delay", async () => {
  const { filter, batches } = recordingFilter(40);
  filter.set([]);
  await sleep(60);
  assert.equal(batches.length, 0, "held until the daemon has started");
  filter.releaseLeftover();
  await sleep(5);
  assert.equal(batches.length, 0, "then the delay");
  await sleep(80);
  assert.deepEqual(batches, [nftBatch([])], "then it runs, once");
  filter.set([]);
  await filter.idle();
  assert.equal(batches.length, 1, "nothing more: the table is gone");
});

Deno.test("NftAcceptFilter holding the leftover removal: a VIP to drop writes at once, and ends the hold", async () => {
  const { filter, batches } = recordingFilter(10_000);
  filter.set([]);
  filter.set(["192.0.2.10"]);
  await sleep(5);
  assert.equal(batches.length, 1, "a set with a VIP replaces the table at once");
  assert.match(batches[0], /192\.0\.2\.10/);
  filter.set([]);
  await sleep(5);
  assert.equal(batches.at(-1), nftBatch([]), "after a write, an empty set is not held");
  filter.releaseLeftover();
  await filter.close();
  assert.equal(batches.length, 2, "already removed: close writes nothing");
});

Deno.test("NftAcceptFilter: a held leftover removal is run by idle() and replaced by close()", async () => {
  const a = recordingFilter(10_000);
  a.filter.set([]);
  await a.filter.idle();
  assert.deepEqual(a.batches, [nftBatch([])]);
  await a.filter.close();
  assert.equal(a.batches.length, 1, "already removed: close writes nothing");
  const b = recordingFilter(10_000);
  b.filter.set([]);
  b.filter.releaseLeftover();
  await b.filter.close();
  assert.deepEqual(b.batches, [nftBatch([])], "close removes it once, not twice");
});

Deno.test("NftAcceptFilter: a removal of a table the kernel says is absent starts no nft, at the start or at stop", async () => {
  const batches: string[] = [];
  const applied: string[][] = [];
  let exists: boolean | null = false;
  const make = () =>
    new NftAcceptFilter({
      onError: () => {},
      onApplied: (a) => applied.push([...a]),
      tableExists: () => Promise.resolve(exists),
      run: (batch) => {
        batches.push(batch);
        return Promise.resolve(null);
      },
    });
  const clean = make();
  clean.set([]);
  await clean.idle();
  await clean.close();
  assert.deepEqual(batches, [], "absent: nothing to run, at the start or at stop");
  assert.deepEqual(applied, [], "and nothing to tell");

  exists = true;
  const leftover = make();
  leftover.set([]);
  await leftover.idle();
  assert.deepEqual(batches, [nftBatch([])], "present: removed");
  await leftover.close();
  assert.equal(batches.length, 1, "removed already: nothing at stop");

  exists = null;
  const unknown = make();
  unknown.set(["192.0.2.10"]);
  await unknown.idle();
  await unknown.close();
  assert.equal(batches.length, 3, "a set is written whatever the probe says, and removed at stop");
});

Deno.test("buildGetTable: nfgenmsg (family, version 0, res_id 0), then the name as NFTA_TABLE_NAME", () => {
  const m = buildGetTable(1, "hacore");
  const dv = new DataView(m.buffer);
  assert.equal(dv.getUint32(0, true), m.length);
  assert.equal(dv.getUint16(4, true), (10 << 8) | 1, "NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE");
  assert.equal(dv.getUint16(6, true), 1, "NLM_F_REQUEST (the connection adds ACK)");
  assert.deepEqual([...m.subarray(16, 20)], [1, 0, 0, 0]);
  assert.equal(dv.getUint16(20, true), 4 + 7, "attribute length: header + name + NUL");
  assert.equal(dv.getUint16(22, true), 1, "NFTA_TABLE_NAME");
  assert.equal(new TextDecoder().decode(m.subarray(24, 30)), "hacore");
  assert.equal(m[30], 0);
});
