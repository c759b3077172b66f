/**
 * The operating-system side of the daemon's ports, assembled: raw VRRP sockets,
 * rtnetlink addresses, packet-socket announcements, and the interfaces' own addresses.
 *
 * @module
 */

import type { PrimaryAddresses } from "./ports.ts";
import { type AddressPortOptions, RtnlAddressPort } from "./addresses.ts";
import { PacketAnnouncer } from "./announcer.ts";
import { SystemTransportFactory } from "./transport.ts";
import { SystemVmacPort } from "./vmac.ts";
import { PacketVipGuard } from "./vip_guard.ts";

export { type AddressPortOptions, RtnlAddressPort, toKernelAddress } from "./addresses.ts";
export { PacketAnnouncer } from "./announcer.ts";
export {
  type InterfaceInfo,
  interfaceInfo,
  interfaceInfoFrom,
  linkIsUp,
  primariesFrom,
  readPrimaryAddresses,
} from "./interfaces.ts";
export { SystemTransportFactory, type TransportStats } from "./transport.ts";
export { claimFilter, PacketVipGuard, parseClaimFrame } from "./vip_guard.ts";
export { procSysctls, type Sysctls, SystemVmacPort, VMAC_ALIAS, type VmacLinks } from "./vmac.ts";

/**
 * Everything {@link createSystemPorts} returns.
 *
 * @example
 * ```ts
 * const ports: SystemPorts = await createSystemPorts();
 * ```
 */
export interface SystemPorts {
  /** Raw VRRP sockets, read by one poll loop. */
  readonly transports: SystemTransportFactory;
  /** The kernel's addresses over rtnetlink. */
  readonly addresses: RtnlAddressPort;
  /** Gratuitous ARP and unsolicited NA on packet sockets. */
  readonly announcer: PacketAnnouncer;
  /** Virtual-MAC macvlans (`use_vmac`), on the address port's request socket. */
  readonly vmacs: SystemVmacPort;
  /** Packet sockets that watch for other hosts claiming held VIPs. */
  readonly vipGuard: PacketVipGuard;
  /** Each interface's IPv4 primary and IPv6 link-local address, read now. */
  primaries(): Promise<PrimaryAddresses>;
  /**
   * Closes every transport, watch and socket, and resolves once nothing is pending
   * (no poll, no netlink read), so the process can exit on its own.
   */
  close(): Promise<void>;
}

/**
 * Opens the production ports in the calling thread's network namespace. Reads the link
 * table once, so a process without netlink access fails here rather than at the first
 * reconcile. Raw sockets are opened later, per transport, and need CAP_NET_RAW.
 *
 * @example
 * ```ts
 * const ports = await createSystemPorts();
 * const daemon = new Daemon({
 *   config, clock: systemClock, primaryAddresses: await ports.primaries(),
 *   transports: ports.transports, addresses: ports.addresses, announcer: ports.announcer,
 *   vmacs: ports.vmacs, logger,
 * });
 * // ... on shutdown:
 * await ports.close();
 * ```
 * @throws {SyscallError} when the rtnetlink socket cannot be opened or answers an error.
 */
export async function createSystemPorts(opts: AddressPortOptions = {}): Promise<SystemPorts> {
  const addresses = RtnlAddressPort.open(opts);
  try {
    await addresses.rtnl.dumpLinks();
  } catch (e) {
    await addresses.close();
    throw e;
  }
  const transports = new SystemTransportFactory();
  const announcer = new PacketAnnouncer();
  const vmacs = new SystemVmacPort(addresses.rtnl);
  const vipGuard = new PacketVipGuard();
  let closing: Promise<void> | null = null;
  return {
    transports,
    addresses,
    announcer,
    vmacs,
    vipGuard,
    primaries: () => addresses.primaries(),
    close(): Promise<void> {
      closing ??= (async () => {
        announcer.close();
        await Promise.all([transports.close(), addresses.close(), vipGuard.close()]);
      })();
      return closing;
    },
  };
}
