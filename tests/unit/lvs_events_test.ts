import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { realServerTransitions, updateQuorum } from "../../lib/lvs/events.ts";

const C = configOf(`[virtual_server.web]
address = "192.0.2.100"
port = 80
quorum = 3
hysteresis = 1
quorum_up = "/bin/open"
quorum_down = "/bin/closed"
[[virtual_server.web.real_server]]
address = "192.0.2.11"
weight = 2
notify_up = "/bin/up11"
notify_down = "/bin/down11"
[[virtual_server.web.real_server.check]]
type = "tcp"
[[virtual_server.web.real_server]]
address = "192.0.2.12"
weight = 2
[[virtual_server.web.real_server.check]]
type = "tcp"
`);
const VS = C.virtualServers;
const R11 = "web/192.0.2.11:80";
const R12 = "web/192.0.2.12:80";

Deno.test("events: a server going down runs its notify_down, coming back its notify_up", () => {
  const up = new Map([[R11, { up: true }], [R12, { up: true }]]);
  const down = new Map([[R11, { up: false }], [R12, { up: true }]]);
  assert.deepEqual(realServerTransitions(VS, up, down), [
    { virtualServer: "web", realServer: R11, up: false, command: "/bin/down11" },
  ]);
  assert.deepEqual(realServerTransitions(VS, down, up), [
    { virtualServer: "web", realServer: R11, up: true, command: "/bin/up11" },
  ]);
  assert.deepEqual(realServerTransitions(VS, up, up), []);
});

Deno.test("events: a server without notify commands still reports its transition", () => {
  const t = realServerTransitions(VS, new Map(), new Map([[R12, { up: false }]]));
  assert.deepEqual(t, [{ virtualServer: "web", realServer: R12, up: false, command: null }]);
});

Deno.test("events: quorum starts from the live weight and moves with hysteresis", () => {
  const both = new Map([[R11, { up: true }], [R12, { up: true }]]);
  const one = new Map([[R11, { up: true }], [R12, { up: false }]]);
  const none = new Map([[R11, { up: false }], [R12, { up: false }]]);
  const start = updateQuorum(VS, new Map(), both);
  assert.deepEqual([...start.quorum], [["web", true]]);
  assert.deepEqual(start.changes, []);
  // Weight 2 is inside the band (quorum 3 - 1): quorum holds.
  const a = updateQuorum(VS, start.quorum, one);
  assert.deepEqual([a.quorum.get("web"), a.changes.length], [true, 0]);
  const b = updateQuorum(VS, a.quorum, none);
  assert.deepEqual(b.changes, [{
    virtualServer: "web",
    event: "quorum_down",
    command: "/bin/closed",
  }]);
  // Weight 2 is not enough to regain (needs 3 + 1); 4 is.
  const c = updateQuorum(VS, b.quorum, one);
  assert.deepEqual([c.quorum.get("web"), c.changes.length], [false, 0]);
  const d = updateQuorum(VS, c.quorum, both);
  assert.deepEqual(d.changes, [{ virtualServer: "web", event: "quorum_up", command: "/bin/open" }]);
});

Deno.test("events: a pool that starts without quorum announces it", () => {
  const r = updateQuorum(VS, new Map(), new Map([[R11, { up: false }], [R12, { up: false }]]));
  assert.deepEqual(r.changes, [{
    virtualServer: "web",
    event: "quorum_down",
    command: "/bin/closed",
  }]);
});
