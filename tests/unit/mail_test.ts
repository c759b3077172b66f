import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import type { Config, MailConfig } from "../../lib/config/schema.ts";
import { GLOBAL_DEFAULTS } from "../../lib/config/schema.ts";
import { MailAlerts, openMailer } from "../../lib/notify/alerts.ts";
import { alertWanted, ctimeUtc, formatMail, lvsAlert, vrrpAlert } from "../../lib/notify/mail.ts";
import { Mailer, type MailOutcome, type SmtpConn } from "../../lib/notify/mailer.ts";
import {
  dataBlock,
  type Envelope,
  parseReplies,
  SmtpDialogue,
  type SmtpStep,
} from "../../lib/notify/smtp_dialogue.ts";
import { startSmtpSink } from "../fakes/smtp_sink.ts";
import { Notifier } from "../../lib/daemon/notify.ts";
import { Logger } from "../../lib/log.ts";

const ENVELOPE: Envelope = {
  from: "lb1@example.com",
  to: ["ops@example.com", "noc@example.com"],
  message: "Subject: x\r\n\r\nhello\r\n.dot\r\n",
};

/** Each row: the server's reply, then what the client must do. */
const HAPPY: [number, SmtpStep][] = [
  [220, { kind: "send", data: "HELO lb1.example.com\r\n" }],
  [250, { kind: "send", data: "MAIL FROM:<lb1@example.com>\r\n" }],
  [250, { kind: "send", data: "RCPT TO:<ops@example.com>\r\n" }],
  [250, { kind: "send", data: "RCPT TO:<noc@example.com>\r\n" }],
  [250, { kind: "send", data: "DATA\r\n" }],
  [354, { kind: "send", data: "Subject: x\r\n\r\nhello\r\n..dot\r\n.\r\n" }],
  [250, { kind: "send", data: "QUIT\r\n" }],
  [221, { kind: "done", refused: [] }],
];

Deno.test("SMTP dialogue: greeting, HELO, MAIL, one RCPT each, DATA dot-stuffed, QUIT", () => {
  const d = new SmtpDialogue("lb1.example.com", ENVELOPE);
  for (const [code, step] of HAPPY) {
    assert.deepEqual(d.onReply({ code, text: ["x"] }), step, `${code}`);
  }
});

Deno.test("SMTP dialogue: each refusal names the step and the server's words", () => {
  const cases: [number[], string][] = [
    [[421], "the server refused the connection: 421 busy"],
    [[220, 501], "HELO lb1.example.com refused: 501 busy"],
    [[220, 250, 550], "MAIL FROM:<lb1@example.com> refused: 550 busy"],
    [
      [220, 250, 250, 550, 550],
      "every recipient was refused: ops@example.com (550 busy), noc@example.com (550 busy)",
    ],
    [[220, 250, 250, 250, 250, 554], "DATA refused: 554 busy"],
    [[220, 250, 250, 250, 250, 354, 552], "the message was refused: 552 busy"],
  ];
  for (const [codes, error] of cases) {
    const d = new SmtpDialogue("lb1.example.com", ENVELOPE);
    let last: SmtpStep = { kind: "wait" };
    for (const code of codes) last = d.onReply({ code, text: ["busy"] });
    assert.deepEqual(last, { kind: "fail", error }, codes.join(","));
  }
});

Deno.test("SMTP dialogue: one refused recipient is skipped and reported", () => {
  const d = new SmtpDialogue("h", ENVELOPE);
  for (const code of [220, 250, 250, 250]) d.onReply({ code, text: [] });
  assert.deepEqual(d.onReply({ code: 550, text: ["no such user"] }), {
    kind: "send",
    data: "DATA\r\n",
  });
  for (const code of [354, 250]) d.onReply({ code, text: [] });
  assert.deepEqual(d.onReply({ code: 221, text: [] }), {
    kind: "done",
    refused: ["noc@example.com (550 no such user)"],
  });
});

Deno.test("parseReplies joins continuation lines and keeps an unfinished reply", () => {
  assert.deepEqual(parseReplies("250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n220 x"), {
    replies: [{ code: 250, text: ["mx", "PIPELINING", "8BITMIME"] }],
    rest: "220 x",
  });
  assert.deepEqual(parseReplies("354\r\n"), { replies: [{ code: 354, text: [""] }], rest: "" });
});

Deno.test("dataBlock ends every line with CRLF, doubles leading dots, adds the final dot", () => {
  assert.equal(dataBlock("a\n.b\r\nc"), "a\r\n..b\r\nc\r\n.\r\n");
});

const AT = new Date("2026-12-06T03:45:07Z");

Deno.test("alerts use keepalived's subjects and body lines, with the ctime timestamp", () => {
  assert.equal(ctimeUtc(AT), "Sun Dec  6 03:45:07 2026");
  const cases: [Parameters<typeof vrrpAlert>[1], string, string][] = [
    [
      { target: "INSTANCE", name: "VI_1", state: "MASTER", priority: 150, reason: "r", at: AT },
      "[lb1] VRRP Instance VI_1 - Entering MASTER state",
      "=> VRRP Instance is now owning VRRP VIPs <=",
    ],
    [
      { target: "INSTANCE", name: "VI_1", state: "BACKUP", priority: 100, reason: "r", at: AT },
      "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
      "=> VRRP Instance is no longer owning VRRP VIPs <=",
    ],
    [
      { target: "INSTANCE", name: "VI_1", state: "FAULT", priority: 0, reason: "r", at: AT },
      "[lb1] VRRP Instance VI_1 - Entering FAULT state",
      "=> VRRP Instance is no longer owning VRRP VIPs <=",
    ],
    [
      { target: "INSTANCE", name: "VI_1", state: "STOP", priority: 0, reason: "r", at: AT },
      "[lb1] VRRP Instance VI_1 - Stopping",
      "=> VRRP Instance stopping <=",
    ],
    [
      { target: "GROUP", name: "G1", state: "MASTER", priority: 0, reason: "r", at: AT },
      "[lb1] VRRP Group G1 - Entering MASTER state",
      "=> All VRRP group instances are now in MASTER state <=",
    ],
  ];
  for (const [change, subject, line] of cases) {
    const a = vrrpAlert("lb1", change);
    assert.equal(a.subject, subject);
    assert.deepEqual(a.body.slice(0, 3), ["Sun Dec  6 03:45:07 2026", "", line]);
  }
  const rs = lvsAlert("lb1", {
    kind: "real_server",
    virtualServer: "web",
    realServer: "web/192.0.2.11:80",
    up: false,
    at: AT,
  });
  assert.equal(rs.subject, "[lb1] Realserver web/192.0.2.11:80 of virtual server web - DOWN");
  assert.equal(rs.body[2], "=> CHECK failed on service <=");
  const q = lvsAlert("lb1", {
    kind: "quorum",
    virtualServer: "web",
    realServer: null,
    up: true,
    at: AT,
  });
  assert.equal(q.subject, "[lb1] Virtualserver web - UP");
});

Deno.test("alertWanted: the most specific smtp_alert wins; mail configured = on by default", () => {
  const on: MailConfig = { ...GLOBAL_DEFAULTS.mail, server: "192.0.2.25:25", to: ["a@b.c"] };
  const rows: [MailConfig, (boolean | null)[], boolean][] = [
    [on, [null], true],
    [on, [false], false],
    [{ ...on, alert: false }, [null], false],
    [{ ...on, alert: false }, [true], true],
    [on, [null, false], false],
    [on, [true, false], true],
    [GLOBAL_DEFAULTS.mail, [true], false],
    [{ ...on, to: [] }, [true], false],
  ];
  for (const [mail, levels, want] of rows) {
    assert.equal(alertWanted(mail, levels), want, JSON.stringify([mail.alert, levels]));
  }
});

Deno.test("formatMail: keepalived's headers, CRLF, no header injection from a subject", () => {
  const text = formatMail({
    from: "lb1@example.com",
    to: ["ops@example.com", "noc@example.com"],
    alert: { subject: "x\r\nBcc: evil@example.com", body: ["b"] },
    at: AT,
    mailer: "hacore 1",
  });
  assert.equal(
    text,
    "From: lb1@example.com\r\nTo: ops@example.com, noc@example.com\r\n" +
      "Subject: x Bcc: evil@example.com\r\nDate: Sun, 06 Dec 2026 03:45:07 GMT\r\n" +
      "X-Mailer: hacore 1\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nb\r\n",
  );
});

function config(toml: string): Config {
  const r = parseConfig(toml, "t.toml");
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.config;
}

Deno.test("MailAlerts: an instance with smtp_alert = false is not mailed, others are", () => {
  const c = config(`[global]
router_id = "lb1"
smtp_server = "192.0.2.25"
notification_email = ["ops@example.com"]
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.10"]
`);
  const sent: string[] = [];
  const alerts = new MailAlerts({
    config: () => c,
    sink: { send: (subject, message) => sent.push(`${subject}|${message.split("\r\n")[0]}`) },
    hostname: "lb1",
    mailerName: "hacore",
  });
  const change = {
    target: "INSTANCE" as const,
    name: "VI_1",
    state: "MASTER" as const,
    priority: 100,
    reason: "r",
    at: AT,
  };
  alerts.vrrp(change, null);
  alerts.vrrp(change, false);
  assert.deepEqual(sent, [
    "[lb1] VRRP Instance VI_1 - Entering MASTER state|From: hacore@lb1",
  ]);
});

Deno.test("Mailer delivers to a real SMTP server on loopback", async () => {
  const sink = startSmtpSink("127.0.0.1", 0);
  const outcomes: [MailOutcome, string][] = [];
  const mailer = new Mailer({
    host: "127.0.0.1",
    port: sink.port,
    from: "lb1@example.com",
    to: ["ops@example.com", "nobody@example.com"],
    heloName: "lb1.example.com",
    timeoutMs: 2000,
    onOutcome: (o, d) => outcomes.push([o, d]),
  });
  try {
    mailer.send("s1", "Subject: s1\r\n\r\nline\r\n.leading dot\r\n");
    await mailer.idle();
    assert.deepEqual(outcomes.map(([o]) => o), ["sent"]);
    assert.equal(sink.mails.length, 1);
    assert.deepEqual(sink.mails[0].to, ["ops@example.com"]);
    assert.equal(sink.mails[0].helo, "lb1.example.com");
    assert.equal(sink.mails[0].data, "Subject: s1\r\n\r\nline\r\n.leading dot");
    assert.equal(mailer.stats.sent, 1);
  } finally {
    await mailer.close(100);
    await sink.close();
  }
});

Deno.test("Mailer retries with backoff, then gives up and counts the failure", async () => {
  const sink = startSmtpSink("127.0.0.1", 0, { refuseFirst: 2 });
  const outcomes: MailOutcome[] = [];
  const mailer = new Mailer({
    host: "127.0.0.1",
    port: sink.port,
    from: "a@b.c",
    to: ["ops@example.com"],
    heloName: "h",
    timeoutMs: 1000,
    backoffMs: 10,
    onOutcome: (o) => outcomes.push(o),
  });
  try {
    mailer.send("s", "Subject: s\r\n\r\nx\r\n");
    await mailer.idle();
    assert.deepEqual(outcomes, ["retry", "retry", "sent"]);
    assert.equal(sink.connections(), 3);
    assert.match(mailer.stats.lastError ?? "", /refused the connection: 421 sink.test busy/);
  } finally {
    await mailer.close(100);
    await sink.close();
  }
  const failing = new Mailer({
    host: "127.0.0.1",
    port: 1, // nothing listens: connection refused
    from: "a@b.c",
    to: ["ops@example.com"],
    heloName: "h",
    timeoutMs: 1000,
    backoffMs: 1,
    maxAttempts: 2,
    onOutcome: (o) => outcomes.push(o),
  });
  outcomes.length = 0;
  failing.send("s", "x");
  await failing.idle();
  assert.deepEqual(outcomes, ["retry", "failed"]);
  assert.equal(failing.stats.failed, 1);
  await failing.close(10);
});

/** A connection that never answers: the send waits on it without blocking anyone. */
function silentConn(): SmtpConn {
  let close: () => void = () => {};
  const closed = new Promise<null>((r) => (close = () => r(null)));
  return { read: () => closed, write: (d) => Promise.resolve(d.length), close: () => close() };
}

Deno.test("Mailer: send returns at once; a full queue drops the oldest; close drops the rest", async () => {
  const outcomes: [MailOutcome, string][] = [];
  const mailer = new Mailer({
    host: "192.0.2.25",
    port: 25,
    from: "a@b.c",
    to: ["ops@example.com"],
    heloName: "h",
    timeoutMs: 50,
    queueLimit: 2,
    maxAttempts: 1,
    connect: () => Promise.resolve(silentConn()),
    onOutcome: (o, d) => outcomes.push([o, d]),
  });
  const t0 = performance.now();
  for (const s of ["s1", "s2", "s3"]) mailer.send(s, "x");
  assert.ok(performance.now() - t0 < 20, "send must not wait for the server");
  assert.deepEqual(outcomes, [["dropped", `queue full (2): dropped "s1"`]]);
  await mailer.idle();
  assert.deepEqual(outcomes.slice(1).map(([o]) => o), ["failed", "failed"]);
  assert.match(outcomes[1][1], /timed out after 50 ms waiting for a reply from 192\.0\.2\.25:25/);
  mailer.send("late", "x");
  await mailer.close(0);
  assert.equal(mailer.stats.dropped + mailer.stats.failed, 4);
});

Deno.test("openMailer: none without a server or recipients; IPv6 server unbracketed", () => {
  const none = config("");
  assert.equal(openMailer(none, "h", () => {}), null);
  const c = config(
    `[global]\nsmtp_server = "[2001:db8::25]:2525"\nnotification_email = ["a@b.c"]\n`,
  );
  let connected = "";
  const m = openMailer(c, "h", () => {}, {
    connect: (host, port) => {
      connected = `${host} ${port}`;
      return Promise.reject(new Error("no"));
    },
    maxAttempts: 1,
  });
  assert.ok(m !== null);
  m.send("s", "x");
  return m.idle().then(() => {
    assert.equal(connected, "2001:db8::25 2525");
    return m.close(0);
  });
});

Deno.test("the Notifier mails instance events (smtp_alert from the event's hooks) and LVS events", async () => {
  const c = config(`[global]
router_id = "lb1"
smtp_server = "192.0.2.25"
notification_email = ["ops@example.com"]
smtp_alert = false
[virtual_server.web]
address = "192.0.2.10"
port = 80
[[virtual_server.web.real_server]]
address = "192.0.2.11"
smtp_alert = true
`);
  const sent: string[] = [];
  const notifier = new Notifier({
    timeoutMs: 1000,
    allowInsecure: false,
    fifoPath: null,
    logger: new Logger({ level: "error", sink: () => {} }),
    mail: new MailAlerts({
      config: () => c,
      sink: { send: (subject) => sent.push(subject) },
      hostname: "lb1",
      mailerName: "hacore",
    }),
  });
  const hooks = { master: null, backup: null, fault: null, stop: null, generic: null };
  const ev = {
    target: "INSTANCE" as const,
    name: "VI_1",
    state: "BACKUP" as const,
    previous: "MASTER" as const,
    priority: 100,
    reason: "higher-priority" as const,
    detail: "",
    masterIp: null,
    at: AT,
  };
  notifier.notify({ ...ev, hooks: { ...hooks, smtpAlert: null } }); // global: off
  notifier.notify({ ...ev, hooks: { ...hooks, smtpAlert: true } });
  const rs = c.virtualServers[0].realServers[0];
  const notice = {
    kind: "real_server" as const,
    virtualServer: "web",
    realServer: rs.id,
    up: false,
    hook: "notify_down" as const,
    command: null,
    fifoLine: "",
  };
  notifier.notifyLvs(notice);
  notifier.notifyLvs({ ...notice, kind: "quorum", realServer: null, hook: "quorum_down" });
  await notifier.close();
  assert.deepEqual(sent, [
    "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
    `[lb1] Realserver ${rs.id} of virtual server web - DOWN`,
  ]);
});
