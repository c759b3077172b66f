/**
 * Mail alerts wired to a config: which changes are mailed (`smtp_alert` at each level,
 * see `alertWanted`), in keepalived's words (`mail.ts`), through one {@link Mailer}.
 *
 * @module
 */

import { type Config, type MailConfig, mailConfigured } from "../config/schema.ts";
import {
  alertWanted,
  formatMail,
  lvsAlert,
  type LvsChange,
  vrrpAlert,
  type VrrpChange,
} from "./mail.ts";
import { Mailer, type MailerOptions, type MailOutcome } from "./mailer.ts";

/**
 * Where the composed mails go: a {@link Mailer}, or a recorder in tests.
 *
 * @example
 * ```ts
 * const sink: MailSink = { send: (subject, message) => sent.push(subject) };
 * ```
 */
export interface MailSink {
  send(subject: string, message: string): void;
}

/**
 * Options of {@link MailAlerts}.
 *
 * @example
 * ```ts
 * const opts: MailAlertsOptions = { config: () => config, sink: mailer, hostname: "lb1", mailerName: "hacore 0.1" };
 * ```
 */
export interface MailAlertsOptions {
  /**
   * The config in force: read at every change, so a reload's `smtp_alert` settings
   * apply (the server and recipients are the mailer's, fixed at start).
   */
  readonly config: () => Config;
  readonly sink: MailSink;
  /** For the default sender (`hacore@HOST`, as keepalived's `keepalived@HOST`). */
  readonly hostname: string;
  /** The `X-Mailer` header. */
  readonly mailerName: string;
}

/**
 * Decides and composes; the sink sends. Calls return at once.
 *
 * @example
 * ```ts
 * const alerts = new MailAlerts({ config: () => config, sink: mailer, hostname: "lb1", mailerName: "hacore" });
 * alerts.vrrp({ target: "INSTANCE", name: "VI_1", state: "MASTER", priority: 150,
 *   reason: "master-down-timer", at: new Date() }, null);
 * ```
 */
export class MailAlerts {
  readonly #config: () => Config;
  readonly #sink: MailSink;
  readonly #from: string;
  readonly #mailerName: string;

  constructor(opts: MailAlertsOptions) {
    this.#config = opts.config;
    this.#sink = opts.sink;
    this.#from = opts.config().global.mail.from ?? `hacore@${opts.hostname}`;
    this.#mailerName = opts.mailerName;
  }

  /** An instance's or group's change; `smtpAlert` is its own setting (null = inherit). */
  vrrp(change: VrrpChange, smtpAlert: boolean | null | undefined): void {
    if (!alertWanted(this.#mail, [smtpAlert])) return;
    this.#send(vrrpAlert(this.#config().global.routerId, change), change.at);
  }

  /** A real server's or virtual server's change; its `smtp_alert` is looked up. */
  lvs(change: LvsChange): void {
    const vs = this.#config().virtualServers.find((v) => v.name === change.virtualServer);
    const rs = vs?.realServers.find((r) => r.id === change.realServer);
    const levels = change.kind === "real_server" ? [rs?.smtpAlert, vs?.smtpAlert] : [vs?.smtpAlert];
    if (!alertWanted(this.#mail, levels)) return;
    this.#send(lvsAlert(this.#config().global.routerId, change), change.at);
  }

  get #mail(): MailConfig {
    return this.#config().global.mail;
  }

  #send(alert: { subject: string; body: readonly string[] }, at: Date): void {
    const message = formatMail({
      from: this.#from,
      to: this.#mail.to,
      alert,
      at,
      mailer: this.#mailerName,
    });
    this.#sink.send(alert.subject, message);
  }
}

/**
 * The mailer for a config, or null when mail is not configured (no `smtp_server` or no
 * `notification_email`).
 *
 * @example
 * ```ts
 * const mailer = openMailer(config, "lb1", (o, d) => log.info(`mail ${o}: ${d}`));
 * ```
 */
export function openMailer(
  config: Config,
  hostname: string,
  onOutcome: (outcome: MailOutcome, detail: string) => void,
  extra: Partial<MailerOptions> = {},
): Mailer | null {
  const m = config.global.mail;
  if (m.server === null || !mailConfigured(m)) return null;
  const at = m.server.lastIndexOf(":");
  const host = m.server.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return new Mailer({
    host,
    port: Number(m.server.slice(at + 1)),
    from: m.from ?? `hacore@${hostname}`,
    to: m.to,
    heloName: m.heloName ?? hostname,
    timeoutMs: m.connectTimeoutMs,
    onOutcome,
    ...extra,
  });
}
