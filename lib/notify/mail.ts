/**
 * What a mail alert says, and whether one is sent: keepalived's subjects and body lines
 * (`[ROUTER_ID] VRRP Instance VI_1 - Entering MASTER state`, `=> VRRP Instance is now
 * owning VRRP VIPs <=`), so filters and habits built on keepalived's mail keep working.
 * Pure: the mailer (`mailer.ts`) sends what comes out.
 *
 * @module
 */

import { type MailConfig, mailConfigured } from "../config/schema.ts";

/**
 * A mail to send: subject and body lines (no headers, no envelope).
 *
 * @example
 * ```ts
 * const a: Alert = { subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state", body: ["..."] };
 * ```
 */
export interface Alert {
  readonly subject: string;
  readonly body: readonly string[];
}

/**
 * A VRRP state change as the alert needs it.
 *
 * @example
 * ```ts
 * const c: VrrpChange = { target: "INSTANCE", name: "VI_1", state: "MASTER", priority: 150, reason: "master-down-timer", at: new Date() };
 * ```
 */
export interface VrrpChange {
  readonly target: "INSTANCE" | "GROUP";
  readonly name: string;
  readonly state: "MASTER" | "BACKUP" | "FAULT" | "STOP";
  readonly priority: number;
  readonly reason: string;
  readonly at: Date;
}

/**
 * An LVS change as the alert needs it: a real server up or down, or a virtual server's
 * quorum gained or lost.
 *
 * @example
 * ```ts
 * const c: LvsChange = { kind: "real_server", virtualServer: "web", realServer: "web/192.0.2.11:80", up: false, at: new Date() };
 * ```
 */
export interface LvsChange {
  readonly kind: "real_server" | "quorum";
  readonly virtualServer: string;
  readonly realServer: string | null;
  readonly up: boolean;
  readonly at: Date;
}

const INSTANCE_LINES: Readonly<Record<VrrpChange["state"], [string, string]>> = {
  MASTER: ["Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="],
  BACKUP: ["Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="],
  FAULT: ["Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="],
  STOP: ["Stopping", "=> VRRP Instance stopping <="],
};

/**
 * keepalived's timestamp line: `ctime(3)` in UTC (`Sun Dec  6 03:45:00 2026`).
 *
 * @example
 * ```ts
 * ctimeUtc(new Date("2026-12-06T03:45:00Z")); // "Sun Dec  6 03:45:00 2026"
 * ```
 */
export function ctimeUtc(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const time = `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}`;
  const day = String(at.getUTCDate()).padStart(2, " ");
  return `${WEEKDAYS[at.getUTCDay()]} ${
    MONTHS[at.getUTCMonth()]
  } ${day} ${time} ${at.getUTCFullYear()}`;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * The alert for a VRRP change: an instance's or a sync group's, as keepalived words it.
 *
 * @example
 * ```ts
 * vrrpAlert("lb1", change).subject; // "[lb1] VRRP Instance VI_1 - Entering MASTER state"
 * ```
 */
export function vrrpAlert(routerId: string, c: VrrpChange): Alert {
  const [what, line] = INSTANCE_LINES[c.state];
  if (c.target === "GROUP") {
    const groupLine = c.state === "STOP"
      ? "=> VRRP Group stopping <="
      : `=> All VRRP group instances are now in ${c.state} state <=`;
    return {
      subject: `[${routerId}] VRRP Group ${c.name} - ${what}`,
      body: [ctimeUtc(c.at), "", groupLine, "", `reason: ${c.reason}`],
    };
  }
  return {
    subject: `[${routerId}] VRRP Instance ${c.name} - ${what}`,
    body: [ctimeUtc(c.at), "", line, "", `priority: ${c.priority}, reason: ${c.reason}`],
  };
}

/**
 * The alert for an LVS change, as keepalived's checker words it.
 *
 * @example
 * ```ts
 * lvsAlert("lb1", change).subject; // "[lb1] Realserver web/192.0.2.11:80 of virtual server web - DOWN"
 * ```
 */
export function lvsAlert(routerId: string, c: LvsChange): Alert {
  const updown = c.up ? "UP" : "DOWN";
  if (c.kind === "real_server") {
    return {
      subject:
        `[${routerId}] Realserver ${c.realServer} of virtual server ${c.virtualServer} - ${updown}`,
      body: [
        ctimeUtc(c.at),
        "",
        c.up ? "=> CHECK succeed on service <=" : "=> CHECK failed on service <=",
      ],
    };
  }
  return {
    subject: `[${routerId}] Virtualserver ${c.virtualServer} - ${updown}`,
    body: [ctimeUtc(c.at), "", c.up ? "=> Gained quorum <=" : "=> Lost quorum <="],
  };
}

/**
 * Whether a change is mailed: the most specific `smtp_alert` set (real server, virtual
 * server; instance or group), else `global.smtp_alert`, else on when mail is
 * configured at all (keepalived's default). Never without a server and recipients.
 *
 * @example
 * ```ts
 * alertWanted(mail, [null, true]); // true when mail has a server and recipients
 * ```
 */
export function alertWanted(
  mail: MailConfig,
  levels: readonly (boolean | null | undefined)[],
): boolean {
  if (!mailConfigured(mail)) return false;
  for (const v of levels) if (v !== null && v !== undefined) return v;
  return mail.alert ?? true;
}

/**
 * The message text for the envelope: keepalived's headers (`From`, `To`, `Subject`,
 * `Date`, `X-Mailer`), a blank line, the body.
 *
 * @example
 * ```ts
 * formatMail({ from: "lb1@example.com", to: ["ops@example.com"], alert, at: new Date(), mailer: "hacore 0.1" });
 * ```
 */
export function formatMail(m: {
  from: string;
  to: readonly string[];
  alert: Alert;
  at: Date;
  mailer: string;
}): string {
  const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ");
  return [
    `From: ${m.from}`,
    `To: ${m.to.join(", ")}`,
    `Subject: ${oneLine(m.alert.subject)}`,
    `Date: ${m.at.toUTCString()}`,
    `X-Mailer: ${oneLine(m.mailer)}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    ...m.alert.body,
    "",
  ].join("\r\n");
}
