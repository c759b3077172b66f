/**
 * Mail alerts on a real kernel: two hacore nodes and an SMTP sink in the client's
 * namespace; the master stops, the backup takes over, and the sink receives the new
 * master's "Entering MASTER state" mail with keepalived's subject and body lines.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { leftoverNamespaces, netnsTest } from "./helpers.ts";
import {
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  LineProc,
  peerTest,
  withPeerLab,
} from "./peers.ts";
import type { SunkMail } from "../fakes/smtp_sink.ts";

const SINK = fileURLToPath(new URL("../fakes/smtp_sink.ts", import.meta.url));
const SINK_IP = "192.0.2.50";
const SINK_PORT = 2525;

function mailToml(routerId: string, priority: number): string {
  return hacoreConfigToml({ routerId, priority, vips: ["192.0.2.100/24"] }).replace(
    "[global]\n",
    `[global]
notification_email = ["ops@example.com"]
notification_email_from = "${routerId}@example.com"
smtp_server = "${SINK_IP}:${SINK_PORT}"
smtp_helo_name = "${routerId}.example.com"
smtp_connect_timeout = 5
`,
  );
}

function subjectOf(m: SunkMail): string {
  return /^Subject: (.*)$/m.exec(m.data)?.[1] ?? "";
}

peerTest(
  "mail alert: the new master's mail reaches an SMTP sink on failover",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
        client: { name: "client", address: `${SINK_IP}/24` },
      });
      const dir = await lab.tempDir();
      const sink = new LineProc(
        "smtp sink",
        lab.spawn(lan.client!.ns, Deno.execPath(), "run", "-A", SINK, SINK_IP, String(SINK_PORT)),
      );
      await sink.waitLine((l) => l.text.startsWith("listening "), 10_000, "listening");
      const mails = () =>
        sink.lines.filter((l) => l.text.startsWith("{")).map((l) => JSON.parse(l.text) as SunkMail);

      const a = await hacoreFromToml(lab, dir, lan.nodes[0].ns, "a", mailToml("a", 150));
      await a.waitState("MASTER", 15_000);
      const b = await hacoreFromToml(lab, dir, lan.nodes[1].ns, "b", mailToml("b", 100));
      await b.waitState("BACKUP", 15_000);

      await a.proc.stop("SIGTERM", 15_000);
      await b.waitState("MASTER", 5_000);
      const line = await sink.waitLine(
        (l) => l.text.includes(`"helo":"b.example.com"`) && l.text.includes("Entering MASTER"),
        10_000,
        "b's MASTER mail",
      );
      const mail = JSON.parse(line.text) as SunkMail;
      assert.equal(mail.from, "b@example.com");
      assert.deepEqual(mail.to, ["ops@example.com"]);
      assert.equal(subjectOf(mail), "[b] VRRP Instance VI_1 - Entering MASTER state");
      const split = mail.data.indexOf("\r\n\r\n");
      const headers = mail.data.slice(0, split);
      const body = mail.data.slice(split + 4);
      assert.match(headers, /^From: b@example\.com$/m);
      assert.match(headers, /^To: ops@example\.com$/m);
      assert.match(headers, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/m);
      const lines = body.split("\r\n");
      assert.match(lines[0], /^\w{3} \w{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/);
      assert.equal(lines[2], "=> VRRP Instance is now owning VRRP VIPs <=");

      // The stopped master said so too, before it went: keepalived's "Stopping".
      const fromA = mails().filter((m) => m.from === "a@example.com").map(subjectOf);
      assert.ok(fromA.includes("[a] VRRP Instance VI_1 - Entering MASTER state"), fromA.join("\n"));
      assert.ok(fromA.includes("[a] VRRP Instance VI_1 - Stopping"), fromA.join("\n"));

      await b.proc.stop("SIGTERM", 15_000);
      await sink.stop("SIGTERM", 2000);
    }),
);

netnsTest("no namespace of this run is left behind (mail)", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});
