/**
 * One daemon alone with its transports under the test's control: instance VI_1 on eth0
 * (192.0.2.12), VRID 51, VRRPv3, priority 100, VIP 192.0.2.100/24, on a manual clock;
 * and the adverts of a master at 192.0.2.11 to feed it. For tests of what a Backup does
 * with the packets it is handed (when, in what order, from which socket).
 *
 * @example
 * ```ts
 * const b = await soloBackup({ transports });
 * deliver(masterAdvert(200));
 * await runClock(b.clock, 100, b.settle);
 * b.state(); // "backup"
 * await b.stop();
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import type {
  AddressPort,
  Announcer,
  ReceivedPacket,
  TransportFactory,
} from "../../lib/daemon/ports.ts";
import { Logger, type LogLevel } from "../../lib/log.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import { FakeAddressPort, ManualClock, RecordingAnnouncer } from "./daemon.ts";

export const SOLO_VIP = "192.0.2.100";
export const SOLO_GROUP = "224.0.0.18";
export const SOLO_MASTER_IP = "192.0.2.11";
const OWN_IP = "192.0.2.12";

/**
 * An advert from the master at 192.0.2.11 to the group, as the transport hands it
 * over; `atMs`: when it arrived, if the transport says.
 *
 * @example
 * ```ts
 * masterAdvert(0, { intervalMs: 10 }); // a release
 * ```
 */
export function masterAdvert(
  priority: number,
  opts: { intervalMs?: number; atMs?: number } = {},
): ReceivedPacket {
  const bytes = encodeAdvert(
    {
      version: 3,
      vrid: 51,
      priority,
      intervalMs: opts.intervalMs ?? 1000,
      addresses: [SOLO_VIP],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src: SOLO_MASTER_IP, dst: SOLO_GROUP },
    "pseudo-header",
  );
  const p = { bytes, src: SOLO_MASTER_IP, dst: SOLO_GROUP, ttl: 255 };
  return opts.atMs === undefined ? p : { ...p, atMs: opts.atMs };
}

/** The eth0 address the solo daemon owns. */
export function soloOwnAddress(): FakeAddressPort {
  return new FakeAddressPort([
    { dev: "eth0", address: OWN_IP, prefix: 24, family: "ipv4", label: null, hacore: false },
  ]);
}

/** What {@link soloBackup} needs: the transports, and ports a test wants to watch. */
export interface SoloOptions {
  readonly transports: TransportFactory;
  readonly addresses?: AddressPort;
  readonly announcer?: Announcer;
  /** The instance's advert interval (default 1 s). */
  readonly advertIntervalMs?: number;
  /** Log level of the lines kept in `lines` (default info). */
  readonly logLevel?: LogLevel;
}

/** A started solo daemon and the means to drive it. */
export interface SoloDaemon {
  readonly daemon: Daemon;
  readonly clock: ManualClock;
  /** Its log lines. */
  readonly lines: string[];
  /** Lets the daemon finish what it was handed (until idle). */
  settle(): Promise<void>;
  /** VI_1's state: "backup", "master", …. */
  state(): string;
  /** Stops it, firing its timers until the stop is done; fails the test otherwise. */
  stop(): Promise<void>;
}

/**
 * Starts the solo daemon (priority 100, so a master at 200 keeps it Backup).
 *
 * @example
 * ```ts
 * const b = await soloBackup({ transports, advertIntervalMs: 10 });
 * ```
 */
export async function soloBackup(opts: SoloOptions): Promise<SoloDaemon> {
  const intervalMs = opts.advertIntervalMs ?? 1000;
  const parsed = parseConfig(
    `
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 100
advert_int = ${intervalMs / 1000}
virtual_ipaddress = ["${SOLO_VIP}/24"]
`,
    "b.toml",
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const clock = new ManualClock(0);
  const lines: string[] = [];
  const daemon = new Daemon({
    config: parsed.config,
    primaryAddresses: new Map([["eth0", { ipv4: OWN_IP }]]),
    clock,
    transports: opts.transports,
    addresses: opts.addresses ?? soloOwnAddress(),
    announcer: opts.announcer ?? new RecordingAnnouncer(clock),
    logger: new Logger({ level: opts.logLevel ?? "info", sink: (l) => lines.push(l) }),
  });
  const settle = async () => {
    for (let i = 0; i < 1000 && !daemon.idle; i++) await new Promise((r) => setTimeout(r, 0));
  };
  await daemon.start();
  await settle();
  const stop = async () => {
    let stopped = false;
    daemon.stop().then(() => (stopped = true));
    for (let i = 0; i < 1000 && !stopped; i++) {
      await settle();
      clock.fireNext(Infinity);
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.ok(stopped, "the daemon stopped");
  };
  return { daemon, clock, lines, settle, stop, state: () => daemon.status().instances[0].state };
}
