import assert from "node:assert/strict";
import { DeadLinks } from "../../lib/lvs/dead_links.ts";
import { linkOf, parseProcRoutes } from "../../lib/lvs/link_routes.ts";

const V4 = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0000020A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth2\t0000030A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth3\t0000030A\t00000000\t0001\t0\t0\t10\t00FFFFFF\t0\t0\t0
eth4\t0000040A\t00000000\t0201\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
const V6 =
  "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n" +
  "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n";

Deno.test("link routes: the most specific route's interface reaches a server; a default route is less specific", () => {
  const routes = parseProcRoutes(V4, V6);
  assert.equal(linkOf(routes, "10.2.0.11"), "eth0");
  assert.equal(linkOf(routes, "192.0.2.7"), "eth1", "only the default route covers it");
  assert.equal(linkOf(routes, "2001:db8::5"), "eth0");
  assert.equal(linkOf(routes, "::1"), null, "routes via lo are not links");
});

Deno.test("link routes: equally specific routes on two links make neither the only way; reject routes are none", () => {
  const routes = parseProcRoutes(V4, "");
  assert.equal(linkOf(routes, "10.3.0.5"), null);
  assert.equal(linkOf(routes, "10.4.0.5"), "eth1", "the reject route is skipped: the default wins");
});

Deno.test("dead links: a server reached through a link without carrier is cut off until it is back; its routes outlive a re-read that lost them", async () => {
  const connected = parseProcRoutes(V4, "");
  let table = connected;
  const links = new DeadLinks(() => Promise.resolve(table));
  await links.refresh();
  assert.equal(links.cutting("10.2.0.11"), null);
  assert.equal(links.set("eth0", false), true);
  assert.equal(links.set("eth0", false), false, "no change the second time");
  assert.equal(links.cutting("10.2.0.11"), "eth0");
  assert.equal(links.cutting("192.0.2.7"), null, "reached by another link");
  // An interface set down loses its connected routes in the kernel at once.
  table = connected.filter((r) => r.iface !== "eth0");
  await links.refresh();
  assert.equal(links.cutting("10.2.0.11"), "eth0", "judged by the routes it had");
  assert.equal(links.set("eth0", true), true);
  assert.equal(links.cutting("10.2.0.11"), null);
  assert.equal(links.reachedBy("10.2.0.11", "eth0"), true);
});
