/**
 * Netlink and rtnetlink numbers (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h,
 * linux/if_link.h, linux/if.h): message types, flags, attribute types, groups, and the
 * sizes of the fixed headers. Pure data: importing it needs no permission.
 *
 * @module
 */

// --- nlmsghdr -------------------------------------------------------------------------

/** `NLMSG_ALIGNTO`: messages start on 4-byte boundaries. */
export const NLMSG_ALIGNTO = 4;
/** `NLMSG_HDRLEN`: sizeof(struct nlmsghdr) { u32 len; u16 type; u16 flags; u32 seq; u32 pid }. */
export const NLMSG_HDRLEN = 16;
/** `NLA_ALIGNTO`: attributes (struct rtattr / nlattr) are padded to 4 bytes. */
export const NLA_ALIGNTO = 4;
/** `NLA_HDRLEN`: sizeof(struct rtattr) { u16 len; u16 type }. */
export const NLA_HDRLEN = 4;
/** `NLA_F_NESTED`: attribute type flag, the payload is more attributes. */
export const NLA_F_NESTED = 0x8000;
/** `NLA_F_NET_BYTEORDER`: attribute type flag, the payload is big-endian. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** `NLA_TYPE_MASK`: the type bits of an attribute, without the two flags. */
export const NLA_TYPE_MASK = 0x3fff;

/** `NLMSG_NOOP`. */
export const NLMSG_NOOP = 1;
/** `NLMSG_ERROR`: an ack (error 0) or a failure (negative errno). */
export const NLMSG_ERROR = 2;
/** `NLMSG_DONE`: end of a multipart (dump) reply. */
export const NLMSG_DONE = 3;
/** `NLMSG_OVERRUN`: data lost (defined, never sent by Linux; ENOBUFS is used instead). */
export const NLMSG_OVERRUN = 4;

/** `NLM_F_REQUEST`: a request (every message user space sends). */
export const NLM_F_REQUEST = 0x01;
/** `NLM_F_MULTI`: part of a multipart reply, terminated by NLMSG_DONE. */
export const NLM_F_MULTI = 0x02;
/** `NLM_F_ACK`: reply with an ack (an NLMSG_ERROR with error 0) on success. */
export const NLM_F_ACK = 0x04;
/** `NLM_F_ECHO`: echo the request to the sender's groups. */
export const NLM_F_ECHO = 0x08;
/** `NLM_F_DUMP_INTR`: the dump changed while it was being read; its result is inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;
/** `NLM_F_DUMP_FILTERED`: the dump honoured the request's filter. */
export const NLM_F_DUMP_FILTERED = 0x20;
/** `NLM_F_ROOT` (GET requests): return the whole table. */
export const NLM_F_ROOT = 0x100;
/** `NLM_F_MATCH` (GET requests): return all matching entries. */
export const NLM_F_MATCH = 0x200;
/** `NLM_F_DUMP` = ROOT | MATCH. */
export const NLM_F_DUMP = 0x300;
/** `NLM_F_REPLACE` (NEW requests): replace an existing object. */
export const NLM_F_REPLACE = 0x100;
/** `NLM_F_EXCL` (NEW requests): fail with EEXIST when it exists. */
export const NLM_F_EXCL = 0x200;
/** `NLM_F_CREATE` (NEW requests): create when absent. */
export const NLM_F_CREATE = 0x400;
/** `NLM_F_APPEND` (NEW requests): add at the end of the list. */
export const NLM_F_APPEND = 0x800;
/** `NLM_F_CAPPED` (acks): the echoed request was cut to its header (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** `NLM_F_ACK_TLVS` (acks): extended-ack attributes follow the echoed request. */
export const NLM_F_ACK_TLVS = 0x200;

/** `NLMSGERR_ATTR_MSG`: extended ack, the kernel's error text. */
export const NLMSGERR_ATTR_MSG = 1;
/** `NLMSGERR_ATTR_OFFS`: extended ack, offset of the offending attribute. */
export const NLMSGERR_ATTR_OFFS = 2;

// --- rtnetlink message types and groups ------------------------------------------------

/** `RTM_NEWLINK`. */
export const RTM_NEWLINK = 16;
/** `RTM_DELLINK`. */
export const RTM_DELLINK = 17;
/** `RTM_GETLINK`. */
export const RTM_GETLINK = 18;
/** `RTM_NEWADDR`. */
export const RTM_NEWADDR = 20;
/** `RTM_DELADDR`. */
export const RTM_DELADDR = 21;
/** `RTM_GETADDR`. */
export const RTM_GETADDR = 22;
/** `RTM_NEWROUTE`. */
export const RTM_NEWROUTE = 24;
/** `RTM_DELROUTE`. */
export const RTM_DELROUTE = 25;
/** `RTM_GETROUTE`. */
export const RTM_GETROUTE = 26;

/** `RTNLGRP_LINK`: link changes (up/down, carrier, rename). */
export const RTNLGRP_LINK = 1;
/** `RTNLGRP_NEIGH`. */
export const RTNLGRP_NEIGH = 3;
/** `RTNLGRP_IPV4_IFADDR`: IPv4 address changes. */
export const RTNLGRP_IPV4_IFADDR = 5;
/** `RTNLGRP_IPV4_ROUTE`. */
export const RTNLGRP_IPV4_ROUTE = 7;
/** `RTNLGRP_IPV6_IFADDR`: IPv6 address changes. */
export const RTNLGRP_IPV6_IFADDR = 9;
/** `RTNLGRP_IPV6_ROUTE`. */
export const RTNLGRP_IPV6_ROUTE = 11;

// --- ifaddrmsg ---------------------------------------------------------------------------

/** sizeof(struct ifaddrmsg) { u8 family, prefixlen, flags, scope; u32 index }. */
export const IFADDRMSG_LEN = 8;
/** `IFA_ADDRESS`: the prefix address (the peer on point-to-point links). */
export const IFA_ADDRESS = 1;
/** `IFA_LOCAL`: the local address. */
export const IFA_LOCAL = 2;
/** `IFA_LABEL`: IPv4 only, the `eth0:1` alias name (at most 15 bytes). */
export const IFA_LABEL = 3;
/** `IFA_BROADCAST`. */
export const IFA_BROADCAST = 4;
/** `IFA_ANYCAST`. */
export const IFA_ANYCAST = 5;
/** `IFA_CACHEINFO`: struct ifa_cacheinfo { prefered, valid, cstamp, tstamp } (u32 each). */
export const IFA_CACHEINFO = 6;
/** `IFA_MULTICAST`. */
export const IFA_MULTICAST = 7;
/** `IFA_FLAGS`: u32 flags; supersedes the 8-bit ifa_flags when present. */
export const IFA_FLAGS = 8;
/** `IFA_RT_PRIORITY`. */
export const IFA_RT_PRIORITY = 9;
/** `IFA_TARGET_NETNSID`. */
export const IFA_TARGET_NETNSID = 10;
/** `IFA_PROTO` (Linux ≥ 6.1): u8 naming who installed the address. */
export const IFA_PROTO = 11;

/** `IFAPROT_UNSPEC`. */
export const IFAPROT_UNSPEC = 0;
/** `IFAPROT_KERNEL_LO`: the kernel's loopback address. */
export const IFAPROT_KERNEL_LO = 1;
/** `IFAPROT_KERNEL_RA`: set by the kernel from a router advertisement. */
export const IFAPROT_KERNEL_RA = 2;
/** `IFAPROT_KERNEL_LL`: the kernel's link-local address. */
export const IFAPROT_KERNEL_LL = 3;
/**
 * hacore's `IFA_PROTO` value: 0x48, ASCII 'H'. The kernel reserves only 0–3 for itself
 * and leaves the rest to user space; 0x48 is unlisted in iproute2's rt_addrprotos and
 * matches {@link RTPROT_HACORE}, so one number tags both hacore's addresses and routes.
 */
export const IFA_PROTO_HACORE = 0x48;

/** `IFA_F_SECONDARY` (IPv6: IFA_F_TEMPORARY). */
export const IFA_F_SECONDARY = 0x01;
/** `IFA_F_NODAD`: skip duplicate address detection (VIPs must be usable at once). */
export const IFA_F_NODAD = 0x02;
/** `IFA_F_OPTIMISTIC`. */
export const IFA_F_OPTIMISTIC = 0x04;
/** `IFA_F_DADFAILED`. */
export const IFA_F_DADFAILED = 0x08;
/** `IFA_F_HOMEADDRESS`. */
export const IFA_F_HOMEADDRESS = 0x10;
/** `IFA_F_DEPRECATED`. */
export const IFA_F_DEPRECATED = 0x20;
/** `IFA_F_TENTATIVE`: DAD still running; the address cannot be used yet. */
export const IFA_F_TENTATIVE = 0x40;
/** `IFA_F_PERMANENT`: configured, not autoconfigured. */
export const IFA_F_PERMANENT = 0x80;
/** `IFA_F_MANAGETEMPADDR`. */
export const IFA_F_MANAGETEMPADDR = 0x100;
/** `IFA_F_NOPREFIXROUTE`: do not add the prefix route. */
export const IFA_F_NOPREFIXROUTE = 0x200;
/** `IFA_F_MCAUTOJOIN`. */
export const IFA_F_MCAUTOJOIN = 0x400;
/** `IFA_F_STABLE_PRIVACY`. */
export const IFA_F_STABLE_PRIVACY = 0x800;

// --- ifinfomsg ---------------------------------------------------------------------------

/** sizeof(struct ifinfomsg) { u8 family; u8 pad; u16 type; i32 index; u32 flags; u32 change }. */
export const IFINFOMSG_LEN = 16;
/** `IFLA_ADDRESS`: link-layer address. */
export const IFLA_ADDRESS = 1;
/** `IFLA_BROADCAST`. */
export const IFLA_BROADCAST = 2;
/** `IFLA_IFNAME`: interface name, NUL-terminated. */
export const IFLA_IFNAME = 3;
/** `IFLA_MTU`. */
export const IFLA_MTU = 4;
/** `IFLA_LINK`: index of the lower device (veth peer, vlan parent). */
export const IFLA_LINK = 5;
/** `IFLA_MASTER`: index of the bridge/bond this link is enslaved to. */
export const IFLA_MASTER = 10;
/** `IFLA_OPERSTATE`: u8, RFC 2863 state (IF_OPER_*). */
export const IFLA_OPERSTATE = 16;
/** `IFLA_LINKINFO`: nested; IFLA_INFO_KIND names the driver kind. */
export const IFLA_LINKINFO = 18;
/** `IFLA_IFALIAS`: free-text description of a link (`ip link set … alias`), at most 255 bytes. */
export const IFLA_IFALIAS = 20;
/** `IFLA_EXT_MASK`: u32 RTEXT_FILTER_* in GETLINK requests. */
export const IFLA_EXT_MASK = 29;
/** `IFLA_CARRIER`: u8. */
export const IFLA_CARRIER = 33;
/** `IFLA_INFO_KIND` (inside IFLA_LINKINFO): "veth", "bridge", "macvlan", …. */
export const IFLA_INFO_KIND = 1;
/** `IFLA_INFO_DATA` (inside IFLA_LINKINFO): nested, the kind's own attributes. */
export const IFLA_INFO_DATA = 2;
/** `IFLA_MACVLAN_MODE` (inside IFLA_INFO_DATA of a macvlan): u32, one MACVLAN_MODE_*. */
export const IFLA_MACVLAN_MODE = 1;

/** `MACVLAN_MODE_PRIVATE`: no traffic between sibling macvlans; frames from a sibling's MAC go to it alone. */
export const MACVLAN_MODE_PRIVATE = 1;
/** `MACVLAN_MODE_VEPA`: sibling traffic hairpins through the external switch. */
export const MACVLAN_MODE_VEPA = 2;
/** `MACVLAN_MODE_BRIDGE`: siblings talk directly; the parent still sees every frame from outside. */
export const MACVLAN_MODE_BRIDGE = 4;
/** `MACVLAN_MODE_PASSTHRU`: one macvlan takes over the parent. */
export const MACVLAN_MODE_PASSTHRU = 8;
/** `MACVLAN_MODE_SOURCE`: frames are steered by source MAC. */
export const MACVLAN_MODE_SOURCE = 16;

/** `RTEXT_FILTER_VF`: what `ip link show` asks for. */
export const RTEXT_FILTER_VF = 1;
/** `RTEXT_FILTER_SKIP_STATS`: leave the (large) statistics out of link messages. */
export const RTEXT_FILTER_SKIP_STATS = 8;

/** `IFF_UP`: administratively up. */
export const IFF_UP = 0x1;
/** `IFF_BROADCAST`. */
export const IFF_BROADCAST = 0x2;
/** `IFF_LOOPBACK`. */
export const IFF_LOOPBACK = 0x8;
/** `IFF_POINTOPOINT`. */
export const IFF_POINTOPOINT = 0x10;
/** `IFF_RUNNING`: operationally up (RFC 2863 "up"). */
export const IFF_RUNNING = 0x40;
/** `IFF_NOARP`. */
export const IFF_NOARP = 0x80;
/** `IFF_PROMISC`. */
export const IFF_PROMISC = 0x100;
/** `IFF_MULTICAST`. */
export const IFF_MULTICAST = 0x1000;
/** `IFF_LOWER_UP`: the driver reports carrier. */
export const IFF_LOWER_UP = 0x10000;
/** `IFF_DORMANT`. */
export const IFF_DORMANT = 0x20000;

/** `IF_OPER_UNKNOWN`. */
export const IF_OPER_UNKNOWN = 0;
/** `IF_OPER_NOTPRESENT`. */
export const IF_OPER_NOTPRESENT = 1;
/** `IF_OPER_DOWN`. */
export const IF_OPER_DOWN = 2;
/** `IF_OPER_LOWERLAYERDOWN`. */
export const IF_OPER_LOWERLAYERDOWN = 3;
/** `IF_OPER_TESTING`. */
export const IF_OPER_TESTING = 4;
/** `IF_OPER_DORMANT`. */
export const IF_OPER_DORMANT = 5;
/** `IF_OPER_UP`. */
export const IF_OPER_UP = 6;

// --- rtmsg -------------------------------------------------------------------------------

/** sizeof(struct rtmsg) { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags }. */
export const RTMSG_LEN = 12;
/** `RTA_DST`. */
export const RTA_DST = 1;
/** `RTA_SRC`. */
export const RTA_SRC = 2;
/** `RTA_IIF`. */
export const RTA_IIF = 3;
/** `RTA_OIF`: u32 outgoing interface index. */
export const RTA_OIF = 4;
/** `RTA_GATEWAY`. */
export const RTA_GATEWAY = 5;
/** `RTA_PRIORITY`: u32 metric. */
export const RTA_PRIORITY = 6;
/** `RTA_PREFSRC`: preferred source address. */
export const RTA_PREFSRC = 7;
/** `RTA_TABLE`: u32 table id (for ids ≥ 256, which rtm_table cannot hold). */
export const RTA_TABLE = 15;

/** `RT_TABLE_UNSPEC`. */
export const RT_TABLE_UNSPEC = 0;
/** `RT_TABLE_MAIN`. */
export const RT_TABLE_MAIN = 254;
/** `RT_TABLE_LOCAL`. */
export const RT_TABLE_LOCAL = 255;

/** `RTPROT_UNSPEC`: in a delete, matches any protocol. */
export const RTPROT_UNSPEC = 0;
/** `RTPROT_KERNEL`: installed by the kernel (prefix routes). */
export const RTPROT_KERNEL = 2;
/** `RTPROT_BOOT`: what `ip route add` uses by default. */
export const RTPROT_BOOT = 3;
/** `RTPROT_STATIC`. */
export const RTPROT_STATIC = 4;
/** `RTPROT_KEEPALIVED`: keepalived's routes (18 in iproute2's rt_protos). */
export const RTPROT_KEEPALIVED = 18;
/** hacore's route protocol: 0x48 ('H'), unassigned in iproute2's rt_protos. */
export const RTPROT_HACORE = 0x48;

// --- fib_rule_hdr (policy routing rules) ---------------------------------------------------

/** `RTM_NEWRULE`. */
export const RTM_NEWRULE = 32;
/** `RTM_DELRULE`. */
export const RTM_DELRULE = 33;
/** `RTM_GETRULE`. */
export const RTM_GETRULE = 34;
/**
 * sizeof(struct fib_rule_hdr) { u8 family, dst_len, src_len, tos, table, res1, res2,
 * action; u32 flags }.
 */
export const FIB_RULE_HDR_LEN = 12;
/** `FRA_DST`: destination prefix. */
export const FRA_DST = 1;
/** `FRA_SRC`: source prefix. */
export const FRA_SRC = 2;
/** `FRA_IIFNAME`: input interface name (NUL-terminated). */
export const FRA_IIFNAME = 3;
/** `FRA_GOTO`: u32 target priority of a goto rule. */
export const FRA_GOTO = 4;
/** `FRA_PRIORITY`: u32 rule priority (`ip rule ... priority`). */
export const FRA_PRIORITY = 6;
/** `FRA_FWMARK`: u32 firewall mark. */
export const FRA_FWMARK = 10;
/** `FRA_TABLE`: u32 table id (for ids ≥ 256, which the header's table cannot hold). */
export const FRA_TABLE = 15;
/** `FRA_FWMASK`: u32 mask of FRA_FWMARK. */
export const FRA_FWMASK = 16;
/** `FRA_OIFNAME`: output interface name (NUL-terminated). */
export const FRA_OIFNAME = 17;
/** `FRA_PROTOCOL`: u8 originator of the rule (RTPROT_*, Linux ≥ 4.17). */
export const FRA_PROTOCOL = 21;
/** `FR_ACT_UNSPEC`: in a delete, matches any action. */
export const FR_ACT_UNSPEC = 0;
/** `FR_ACT_TO_TBL`: look the packet up in the rule's table. */
export const FR_ACT_TO_TBL = 1;
/** `FR_ACT_GOTO`: jump to the rule of priority FRA_GOTO. */
export const FR_ACT_GOTO = 2;
/** `FR_ACT_NOP`. */
export const FR_ACT_NOP = 3;
/** `FR_ACT_BLACKHOLE`: drop silently. */
export const FR_ACT_BLACKHOLE = 6;
/** `FR_ACT_UNREACHABLE`: drop with "network unreachable". */
export const FR_ACT_UNREACHABLE = 7;
/** `FR_ACT_PROHIBIT`: drop with "administratively prohibited". */
export const FR_ACT_PROHIBIT = 8;
/** `FIB_RULE_INVERT`: the rule matches what its selectors do not (`ip rule not ...`). */
export const FIB_RULE_INVERT = 0x2;

/** `RT_SCOPE_UNIVERSE`: global. */
export const RT_SCOPE_UNIVERSE = 0;
/** `RT_SCOPE_SITE`. */
export const RT_SCOPE_SITE = 200;
/** `RT_SCOPE_LINK`: on-link, no gateway. */
export const RT_SCOPE_LINK = 253;
/** `RT_SCOPE_HOST`: this host only. */
export const RT_SCOPE_HOST = 254;
/** `RT_SCOPE_NOWHERE`: in a delete, matches any scope. */
export const RT_SCOPE_NOWHERE = 255;

/** `RTN_UNSPEC`: in a delete, matches any type. */
export const RTN_UNSPEC = 0;
/** `RTN_UNICAST`. */
export const RTN_UNICAST = 1;
/** `RTN_LOCAL`. */
export const RTN_LOCAL = 2;
/** `RTN_BROADCAST`. */
export const RTN_BROADCAST = 3;
/** `RTN_ANYCAST`. */
export const RTN_ANYCAST = 4;
/** `RTN_MULTICAST`. */
export const RTN_MULTICAST = 5;
/** `RTN_BLACKHOLE`. */
export const RTN_BLACKHOLE = 6;
/** `RTN_UNREACHABLE`. */
export const RTN_UNREACHABLE = 7;
/** `RTN_PROHIBIT`. */
export const RTN_PROHIBIT = 8;
/** `RTN_THROW`: stop the lookup in this table, as if no route matched. */
export const RTN_THROW = 9;
