import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { checkCommand } from "../../lib/cli/check.ts";
import {
  type ConfigError,
  formatConfigError,
  formatConfigErrors,
  type InstanceConfig,
  loadConfig,
  parseConfig,
  summarizeInstance,
  toRouterConfig,
} from "../../lib/config/mod.ts";
import { didYouMean } from "../../lib/config/errors.ts";
import { lineOf, scanKeyLines } from "../../lib/config/scan.ts";

const EXAMPLES = new URL("../../examples/", import.meta.url);

function errorsOf(source: string): ConfigError[] {
  const r = parseConfig(source, "test.toml");
  if (r.ok) throw new Error("expected errors, got a valid config");
  return r.errors;
}

/** A valid v2 instance header; broken cases append or replace lines after it. */
const VI = `[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
`;

interface BrokenCase {
  name: string;
  toml: string;
  path: string;
  line: number | null;
  message: string;
}

const BROKEN: BrokenCase[] = [
  {
    name: "a relative control socket path is refused",
    toml: `[global]\ncontrol_socket = "run/hacore.sock"\n`,
    path: "global.control_socket",
    line: 2,
    message: `expected an absolute path (starting with /), got "run/hacore.sock"`,
  },
  {
    name: "the metrics listener needs an IP address, not a name",
    toml: `[global]\nmetrics_listen = "localhost:9650"\n`,
    path: "global.metrics_listen",
    line: 2,
    message:
      `expected HOST:PORT with an IP address, e.g. "127.0.0.1:9650" or "[::1]:9650", got "localhost:9650"`,
  },
  {
    name: "an IPv6 metrics listener needs brackets",
    toml: `[global]\nmetrics_listen = "::1:9650"\n`,
    path: "global.metrics_listen",
    line: 2,
    message: `expected HOST:PORT with an IP address`,
  },
  {
    name: "a zero notify timeout is refused",
    toml: `[global]\nnotify_timeout = 0\n`,
    path: "global.notify_timeout",
    line: 2,
    message: "expected a number in 0.1..3600 seconds, got 0",
  },
  {
    name: "unknown instance key suggests the closest allowed key",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\npriorty = 150\n`,
    path: "vrrp_instance.VI_1.priorty",
    line: 5,
    message: `unknown key "priorty" in [vrrp_instance.VI_1]; did you mean "priority"?`,
  },
  {
    name: "unknown section suggests the closest section",
    toml: `[vrrp_instanc.VI_1]\ninterface = "eth0"\n`,
    path: "vrrp_instanc",
    line: 1,
    message: `did you mean "vrrp_instance"?`,
  },
  {
    name: "keepalived's global_defs points at global",
    toml: `[global_defs]\nrouter_id = "a"\n`,
    path: "global_defs",
    line: 1,
    message: `did you mean "global"?`,
  },
  {
    name: "unknown global key suggests the closest",
    toml: `[global]\nvrrp_stict = true\n`,
    path: "global.vrrp_stict",
    line: 2,
    message: `did you mean "vrrp_strict"?`,
  },
  {
    name: "unknown key without a close match lists the allowed keys",
    toml: `[vrrp_track_file.m]\nfile = "/x"\ncolour = 1\n`,
    path: "vrrp_track_file.m.colour",
    line: 3,
    message: `unknown key "colour" in [vrrp_track_file.m]; expected one of: file, weight`,
  },
  {
    name: "VRID 0 is out of range",
    toml:
      `[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 0\nvirtual_ipaddress = ["192.0.2.10"]\n`,
    path: "vrrp_instance.VI_1.virtual_router_id",
    line: 3,
    message: "expected an integer in 1..255, got 0",
  },
  {
    name: "VRID 256 is out of range",
    toml:
      `[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 256\nvirtual_ipaddress = ["192.0.2.10"]\n`,
    path: "vrrp_instance.VI_1.virtual_router_id",
    line: 3,
    message: "expected an integer in 1..255, got 256",
  },
  {
    name: "a float VRID is refused even when whole",
    toml:
      `[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 51.0\nvirtual_ipaddress = ["192.0.2.10"]\n`,
    path: "vrrp_instance.VI_1.virtual_router_id",
    line: 3,
    message: "expected an integer in 1..255, got float 51.0",
  },
  {
    name: "a missing required key points at its table header",
    toml: `\n[vrrp_instance.VI_1]\nvirtual_router_id = 51\nvirtual_ipaddress = ["192.0.2.10"]\n`,
    path: "vrrp_instance.VI_1.interface",
    line: 2,
    message: `missing required key "interface": expected an interface name`,
  },
  {
    name: "priority 255 without owning a VIP",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\npriority = 255\n`,
    path: "vrrp_instance.VI_1.priority",
    line: 5,
    message: "priority 255 is reserved for the address owner; set unicast_src_ip (or mcast_src_ip)",
  },
  {
    name: "the address owner must use priority 255",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nmcast_src_ip = "192.0.2.10"\npriority = 150\n`,
    path: "vrrp_instance.VI_1.priority",
    line: 6,
    message:
      "expected 255 for the address owner (mcast_src_ip 192.0.2.10 is one of the VIPs), got 150",
  },
  {
    name: "v2 refuses a fractional advert interval",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nadvert_int = 0.5\n`,
    path: "vrrp_instance.VI_1.advert_int",
    line: 5,
    message: "expected whole seconds in 1..255 for VRRPv2",
  },
  {
    name: "v3 refuses an advert interval above 40.95 s",
    toml: `${VI}version = 3\nvirtual_ipaddress = ["192.0.2.10"]\nadvert_int = 41\n`,
    path: "vrrp_instance.VI_1.advert_int",
    line: 6,
    message: "expected 0.01..40.95 seconds in steps of 0.01 for VRRPv3, got 41",
  },
  {
    name: "v3 refuses an advert interval finer than centiseconds",
    toml: `${VI}version = 3\nvirtual_ipaddress = ["192.0.2.10"]\nadvert_int = 0.015\n`,
    path: "vrrp_instance.VI_1.advert_int",
    line: 6,
    message: "in steps of 0.01 for VRRPv3, got 0.015",
  },
  {
    name: "a dual-stack instance's first IPv6 VIP is checked at its own line",
    toml: `${VI}version = 3\nvirtual_ipaddress = [\n  "192.0.2.10",\n  "2001:db8::1",\n]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[1]",
    line: 7,
    message: "expected a link-local address (fe80::/10) as the first IPv6 VIP",
  },
  {
    name: "a dual-stack instance needs version 3",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10", "fe80::1"]\n`,
    path: "vrrp_instance.VI_1.version",
    line: 1,
    message: "expected version = 3 for a dual-stack instance",
  },
  {
    name: "an IPv6 instance's first VIP must be link-local",
    toml: `${VI}version = 3\nvirtual_ipaddress = ["2001:db8::1", "fe80::1"]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[0]",
    line: 5,
    message: "expected a link-local address (fe80::/10) as the first IPv6 VIP",
  },
  {
    name: "an IPv6 instance needs version 3",
    toml: `${VI}version = 2\nvirtual_ipaddress = ["fe80::1"]\n`,
    path: "vrrp_instance.VI_1.version",
    line: 4,
    message: "expected version = 3 for an IPv6 instance (VRRPv2 is IPv4-only), got 2",
  },
  {
    name: "an IPv6 instance inheriting v2 from global says where v2 came from",
    toml: `${VI}virtual_ipaddress = ["fe80::1"]\n`,
    path: "vrrp_instance.VI_1.version",
    line: 1,
    message: "VRRPv2 is IPv4-only; version 2 comes from global.vrrp_version), got 2",
  },
  {
    name: "VRID, interface and family must be unique across instances",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\n\n` +
      `[vrrp_instance.VI_2]\ninterface = "eth0"\nvirtual_router_id = 51\nvirtual_ipaddress = ["192.0.2.11"]\n`,
    path: "vrrp_instance.VI_2.virtual_router_id",
    line: 8,
    message: "vrrp_instance.VI_1 (line 3) already uses 51 on eth0 for IPv4",
  },
  {
    name: "unknown track_script suggests a defined script",
    toml:
      `[vrrp_script.chk_nginx]\nscript = "/bin/true"\n\n${VI}virtual_ipaddress = ["192.0.2.10"]\ntrack_script = ["chk_ngnix"]\n`,
    path: "vrrp_instance.VI_1.track_script[0]",
    line: 8,
    message: `no [vrrp_script.chk_ngnix] is defined; did you mean "chk_nginx"?`,
  },
  {
    name: "unknown track_file when none are defined",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\ntrack_file = [{ name = "maint", weight = 2 }]\n`,
    path: "vrrp_instance.VI_1.track_file[0].name",
    line: 5,
    message: "no [vrrp_track_file.maint] is defined (there are no [vrrp_track_file.*] tables)",
  },
  {
    name: "unknown sync group member suggests an instance",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\n[vrrp_sync_group.G1]\ngroup = ["VI_1", "VI_2"]\n`,
    path: "vrrp_sync_group.G1.group[1]",
    line: 6,
    message: `no [vrrp_instance.VI_2] is defined; did you mean "VI_1"?`,
  },
  {
    name: "an instance belongs to at most one sync group",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\n[vrrp_sync_group.G1]\ngroup = ["VI_1"]\n` +
      `[vrrp_sync_group.G2]\ngroup = ["VI_1"]\n`,
    path: "vrrp_sync_group.G2.group[0]",
    line: 8,
    message: `already in vrrp_sync_group.G1`,
  },
  {
    name: "a sync group needs at least one member",
    toml: `[vrrp_sync_group.G1]\ngroup = []\n`,
    path: "vrrp_sync_group.G1.group",
    line: 2,
    message: "got an empty array",
  },
  {
    name: "TOML syntax errors carry smol-toml's line and column",
    toml: `[global]\nrouter_id = "a"\nvrrp_strict = yes\n`,
    path: "",
    line: 3,
    message: "TOML syntax error at column",
  },
  {
    name: "a TOML duplicate instance table names the table and its first line",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\n${VI}`,
    path: "vrrp_instance.VI_1",
    line: 5,
    message: `duplicate key: "vrrp_instance.VI_1" is already defined on line 1`,
  },
  {
    name: "authentication is refused with v3",
    toml:
      `${VI}version = 3\nvirtual_ipaddress = ["192.0.2.10"]\nauthentication = { auth_type = "PASS", auth_pass = "x" }\n`,
    path: "vrrp_instance.VI_1.authentication",
    line: 6,
    message: "expected no authentication with VRRPv3",
  },
  {
    name: "auth_pass longer than 8 bytes",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\nauthentication = { auth_type = "PASS", auth_pass = "secret123" }\n`,
    path: "vrrp_instance.VI_1.authentication.auth_pass",
    line: 5,
    message:
      `expected a password of 1..8 bytes (the v2 auth field is 8 bytes; this one is 9), got "secret123"`,
  },
  {
    name: "AH authentication is refused as deprecated",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\n[vrrp_instance.VI_1.authentication]\nauth_type = "AH"\nauth_pass = "x"\n`,
    path: "vrrp_instance.VI_1.authentication.auth_type",
    line: 6,
    message: "AH authentication was removed from VRRP",
  },
  {
    name: "vrrp_strict forbids unicast peers",
    toml:
      `[global]\nvrrp_strict = true\n${VI}virtual_ipaddress = ["192.0.2.10"]\nunicast_peer = ["192.0.2.2"]\n`,
    path: "vrrp_instance.VI_1.unicast_peer",
    line: 7,
    message: "expected no unicast_peer under global.vrrp_strict",
  },
  {
    name: "vrrp_strict forbids addresses outside the advert",
    toml:
      `[global]\nvrrp_strict = true\n${VI}virtual_ipaddress = ["192.0.2.10"]\nvirtual_ipaddress_excluded = ["192.0.2.11"]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress_excluded",
    line: 7,
    message: "expected no virtual_ipaddress_excluded under global.vrrp_strict",
  },
  {
    name: "enum values are listed",
    toml: `[global]\nchecksum = "rfc5798"\n`,
    path: "global.checksum",
    line: 2,
    message: `expected one of "auto", "pseudo-header", "rfc9568", got "rfc5798"`,
  },
  {
    name: "state accepts only MASTER or BACKUP",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nstate = "primary"\n`,
    path: "vrrp_instance.VI_1.state",
    line: 5,
    message: `expected one of "MASTER", "BACKUP", got "primary"`,
  },
  {
    name: "a unicast peer of the other family",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nunicast_peer = ["192.0.2.2", "2001:db8::2"]\n`,
    path: "vrrp_instance.VI_1.unicast_peer[1]",
    line: 5,
    message: "expected an IPv4 address like the VIPs, got IPv6 2001:db8::2",
  },
  {
    name: "an address with a leading-zero octet is refused (inet_aton would read octal)",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\nunicast_peer = [\n  "192.0.2.2",\n  "192.0.2.02",\n]\n`,
    path: "vrrp_instance.VI_1.unicast_peer[1]",
    line: 7,
    message: "expected a unicast IPv4 or IPv6 address",
  },
  {
    name: "duplicate unicast peers compare canonical addresses",
    toml:
      `${VI}version = 3\nvirtual_ipaddress = ["fe80::1"]\nunicast_peer = ["2001:db8::2", "2001:DB8:0::2"]\n`,
    path: "vrrp_instance.VI_1.unicast_peer[1]",
    line: 6,
    message: "duplicate peer 2001:db8::2 (also at unicast_peer[0])",
  },
  {
    name: "a peer may not be this router's own source",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\nunicast_src_ip = "192.0.2.1"\nunicast_peer = ["192.0.2.1"]\n`,
    path: "vrrp_instance.VI_1.unicast_peer[0]",
    line: 6,
    message: "this router's own source address",
  },
  {
    name: "the source address must match the VIPs' family",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nmcast_src_ip = "2001:db8::1"\n`,
    path: "vrrp_instance.VI_1.mcast_src_ip",
    line: 5,
    message: "expected an IPv4 address like the VIPs, got IPv6 2001:db8::1",
  },
  {
    name: "duplicate VIPs within an instance, excluded ones included",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10/24"]\nvirtual_ipaddress_excluded = ["192.0.2.10/32"]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress_excluded[0]",
    line: 5,
    message: "duplicate VIP 192.0.2.10 (also at virtual_ipaddress[0])",
  },
  {
    name: "at least one VIP",
    toml: `${VI}virtual_ipaddress = []\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress",
    line: 4,
    message: "expected 1..255 VIPs, got an empty array",
  },
  {
    name: "at most 255 VIPs",
    toml: `${VI}virtual_ipaddress = [${
      Array.from({ length: 256 }, (_, i) => `"10.${i >> 8}.${i & 255}.1"`).join(", ")
    }]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress",
    line: 4,
    message: "expected at most 255 VIPs (the advert's address count is one byte), got 256",
  },
  {
    name: "virtual_ipaddress is required",
    toml: VI,
    path: "vrrp_instance.VI_1.virtual_ipaddress",
    line: 1,
    message: `missing required key "virtual_ipaddress"`,
  },
  {
    name: "a VIP prefix beyond the family's width",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10/33"]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[0]",
    line: 4,
    message: `expected a /PREFIX in 1..32 for an IPv4 address, got "192.0.2.10/33"`,
  },
  {
    name: "a multicast VIP is refused",
    toml: `${VI}virtual_ipaddress = ["224.0.0.18"]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[0]",
    line: 4,
    message: "not a multicast address",
  },
  {
    name: "a VIP table's unknown key suggests the right one",
    toml: `${VI}virtual_ipaddress = [{ adress = "192.0.2.10" }]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[0].adress",
    line: 4,
    message: `did you mean "address"?`,
  },
  {
    name: "labels are IPv4-only",
    toml:
      `${VI}version = 3\nvirtual_ipaddress = [\n  "fe80::1",\n  { address = "2001:db8::1", label = "eth0:v6" },\n]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[1].label",
    line: 7,
    message: "expected no label on an IPv6 address",
  },
  {
    name: "a label must start with its device name",
    toml:
      `${VI}virtual_ipaddress = [{ address = "192.0.2.10", dev = "eth1", label = "eth0:web" }]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[0].label",
    line: 4,
    message: `expected a label starting with the device name "eth1"`,
  },
  {
    name: "VIP scope is an enum",
    toml: `${VI}virtual_ipaddress = [{ address = "192.0.2.10", scope = "universe" }]\n`,
    path: "vrrp_instance.VI_1.virtual_ipaddress[0].scope",
    line: 4,
    message: `expected one of "global", "site", "link", "host", got "universe"`,
  },
  {
    name: "a vrrp_script needs a type or a script",
    toml: `[vrrp_script.chk]\ninterval = 2\n`,
    path: "vrrp_script.chk.type",
    line: 1,
    message: `missing required key "type": expected one of script, tcp, http`,
  },
  {
    name: "a script check needs its command line",
    toml: `[vrrp_script.chk]\ntype = "script"\n`,
    path: "vrrp_script.chk.script",
    line: 1,
    message: `missing required key "script": expected a command line`,
  },
  {
    name: "a check type is one of the known kinds",
    toml: `[vrrp_script.chk]\ntype = "ftp"\n`,
    path: "vrrp_script.chk.type",
    line: 2,
    message: `expected one of "script", "tcp"`,
  },
  {
    name: "a tcp check needs HOST:PORT with an address, not a name",
    toml: `[vrrp_script.chk]\ntype = "tcp"\nconnect = "localhost:80"\n`,
    path: "vrrp_script.chk.connect",
    line: 3,
    message: "expected HOST:PORT with an IP address",
  },
  {
    name: "a key of another check type is named as not applying",
    toml: `[vrrp_script.chk]\ntype = "tcp"\nconnect = "127.0.0.1:80"\nurl = "http://127.0.0.1/"\n`,
    path: "vrrp_script.chk.url",
    line: 4,
    message: `"url" does not apply to type = "tcp"; its keys are: connect`,
  },
  {
    name: "an https check refuses an http URL",
    toml: `[vrrp_script.chk]\ntype = "https"\nurl = "http://127.0.0.1/"\n`,
    path: "vrrp_script.chk.url",
    line: 3,
    message: 'expected an https:// URL for type = "https"',
  },
  {
    name: "an http status range must be ordered",
    toml: `[vrrp_script.chk]\ntype = "http"\nurl = "http://127.0.0.1/"\nstatus = ["299-200"]\n`,
    path: "vrrp_script.chk.status[0]",
    line: 4,
    message: "expected an HTTP status (100..599) or a range",
  },
  {
    name: "a Host header cannot carry a line break",
    toml:
      `[vrrp_script.chk]\ntype = "http"\nurl = "http://127.0.0.1/"\nhost_header = "a\\r\\nX-Evil: 1"\n`,
    path: "vrrp_script.chk.host_header",
    line: 4,
    message: "expected a Host header value without control characters",
  },
  {
    name: "a body regex must compile",
    toml: `[vrrp_script.chk]\ntype = "http"\nurl = "http://127.0.0.1/"\nbody_regex = "("\n`,
    path: "vrrp_script.chk.body_regex",
    line: 4,
    message: "expected a valid regular expression",
  },
  {
    name: "a digest is MD5 or SHA-256 hex",
    toml: `[vrrp_script.chk]\ntype = "http"\nurl = "http://127.0.0.1/"\ndigest = "abc"\n`,
    path: "vrrp_script.chk.digest",
    line: 4,
    message: "32 digits (MD5) or 64 (SHA-256)",
  },
  {
    name: "a dns record type is listed",
    toml:
      `[vrrp_script.chk]\ntype = "dns"\nserver = "127.0.0.1"\nquery = "a.example"\nrecord_type = "AXFR"\n`,
    path: "vrrp_script.chk.record_type",
    line: 5,
    message: `expected one of "A", "AAAA"`,
  },
  {
    name: "udp payload and payload_hex exclude each other",
    toml:
      `[vrrp_script.chk]\ntype = "udp"\nconnect = "127.0.0.1:9"\npayload = "x"\npayload_hex = "00"\n`,
    path: "vrrp_script.chk.payload_hex",
    line: 5,
    message: "expected one of payload and payload_hex, got both",
  },
  {
    name: "a sync group tracker takes no weight",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\n[vrrp_sync_group.G]\ngroup = ["VI_1"]\ntrack_interface = [{ name = "eth1", weight = -10 }]\n`,
    path: "vrrp_sync_group.G.track_interface[0].weight",
    line: 7,
    message: "expected no weight (or 0) on a sync group's tracker",
  },
  {
    name: "use_vmac may not name the instance's own interface",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nuse_vmac = "eth0"\n`,
    path: "vrrp_instance.VI_1.use_vmac",
    line: 5,
    message: "expected a new interface name for the macvlan",
  },
  {
    name: "a tracker weight stays within -254..254",
    toml: `[vrrp_script.chk]\nscript = "/bin/true"\nweight = -255\n`,
    path: "vrrp_script.chk.weight",
    line: 3,
    message: "expected an integer in -254..254, got -255",
  },
  {
    name: "a track file path must be absolute",
    toml: `[vrrp_track_file.maint]\nfile = "maint"\n`,
    path: "vrrp_track_file.maint.file",
    line: 2,
    message: `expected an absolute path (starting with /), got "maint"`,
  },
  {
    name: "nopreempt needs state BACKUP",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nstate = "master"\nnopreempt = true\n`,
    path: "vrrp_instance.VI_1.state",
    line: 5,
    message: `expected "BACKUP" with nopreempt = true`,
  },
  {
    name: "release_hold is auto or seconds",
    toml: `${VI}virtual_ipaddress = ["192.0.2.10"]\nrelease_hold = "soon"\n`,
    path: "vrrp_instance.VI_1.release_hold",
    line: 5,
    message: `expected "auto" or a number of seconds in 0..3600, got "soon"`,
  },
  {
    name: "an instance must be a named table",
    toml: `[vrrp_instance]\ninterface = "eth0"\n`,
    path: "vrrp_instance.interface",
    line: 2,
    message: `expected a [vrrp_instance.NAME] table, got "eth0"`,
  },
  {
    name: "names are checked, and quoted in paths",
    toml: `[vrrp_instance."VI 1"]\ninterface = "eth0"\n`,
    path: `vrrp_instance."VI 1"`,
    line: 1,
    message: `expected a name of 1..64 letters`,
  },
  {
    name: "a dotted key gets its own line",
    toml:
      `${VI}virtual_ipaddress = ["192.0.2.10"]\nauthentication.auth_type = "PASS"\nauthentication.auth_pass = ""\n`,
    path: "vrrp_instance.VI_1.authentication.auth_pass",
    line: 6,
    message: `expected a password of 1..8 bytes (the v2 auth field is 8 bytes), got ""`,
  },
  {
    name: "interface names are limited to 15 bytes",
    toml:
      `[vrrp_instance.VI_1]\ninterface = "a-very-long-interface"\nvirtual_router_id = 1\nvirtual_ipaddress = ["192.0.2.10"]\n`,
    path: "vrrp_instance.VI_1.interface",
    line: 2,
    message: "expected an interface name (1..15 characters",
  },
];

for (const c of BROKEN) {
  Deno.test(`config error: ${c.name}`, () => {
    const errors = errorsOf(c.toml);
    if (Deno.env.get("DUMP")) console.log(errors.map(formatConfigError).join("\n"));
    const hit = errors.find((e) => e.path === c.path && e.message.includes(c.message));
    assert.ok(
      hit,
      `no error at ${c.path} containing ${JSON.stringify(c.message)}; got:\n${
        errors.map(formatConfigError).join("\n")
      }`,
    );
    assert.equal(hit.line, c.line, formatConfigError(hit));
    assert.equal(hit.file, "test.toml");
  });
}

Deno.test("the broken-config table covers at least 25 cases", () => {
  assert.ok(BROKEN.length >= 25, `only ${BROKEN.length}`);
});

Deno.test("several errors in one file are all reported, sorted by line", () => {
  const errors = errorsOf(`[global]
checksum = "fast"
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 300
priorty = 100
advert_int = 0.5
virtual_ipaddress = ["192.0.2.10", "2001:db8::1"]
track_script = ["nope"]
`);
  assert.deepEqual(
    errors.map((e) => [e.line, e.path]),
    [
      [2, "global.checksum"],
      [3, "vrrp_instance.VI_1.version"],
      [5, "vrrp_instance.VI_1.virtual_router_id"],
      [6, "vrrp_instance.VI_1.priorty"],
      [7, "vrrp_instance.VI_1.advert_int"],
      [8, "vrrp_instance.VI_1.virtual_ipaddress[1]"],
      [9, "vrrp_instance.VI_1.track_script[0]"],
    ],
  );
});

Deno.test("a bad value does not cascade into a second error about the same key", () => {
  const errors = errorsOf(`${VI}virtual_ipaddress = ["192.0.2.10"]\npriority = 256\n`);
  assert.equal(errors.length, 1, errors.map(formatConfigError).join("\n"));
});

Deno.test("every example config is valid", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(EXAMPLES)) {
    if (entry.isFile && entry.name.endsWith(".toml")) names.push(entry.name);
  }
  assert.ok(names.length > 0, "examples/ has no .toml files");
  for (const name of names.sort()) {
    const r = await loadConfig(new URL(name, EXAMPLES).pathname);
    assert.ok(r.ok, `${name}:\n${r.ok ? "" : r.errors.map(formatConfigError).join("\n")}`);
    assert.ok(r.config.instances.length > 0, `${name} has no instances`);
  }
});

Deno.test("a minimal instance gets every default", () => {
  const config = configOf(`${VI}virtual_ipaddress = ["192.0.2.10"]\n`);
  assert.deepEqual(config.global, {
    routerId: "hacore",
    vrrpVersion: 2,
    mcastGroup4: "224.0.0.18",
    mcastGroup6: "ff02::12",
    garpMasterDelayMs: 5000,
    garpMasterRepeat: 5,
    garpMasterRefreshMs: 0,
    garpMasterRefreshRepeat: 1,
    garpLowerPrioDelayMs: null,
    garpLowerPrioRepeat: null,
    garpIntervalMs: 0,
    gnaIntervalMs: 0,
    checksum: "auto",
    strict: false,
    controlSocket: null,
    metricsListen: null,
    notifyFifo: null,
    notifyFifoFormat: "json",
    notifyTimeoutMs: 10_000,
    allowInsecureScripts: false,
    scriptUser: null,
    pidFile: null,
    dynamicInterfaces: false,
    allowIfChanges: false,
    mail: {
      to: [],
      from: null,
      server: null,
      heloName: null,
      connectTimeoutMs: 30_000,
      alert: null,
    },
  });
  const expected: InstanceConfig = {
    name: "VI_1",
    interface: "eth0",
    vrid: 51,
    priority: 100,
    version: 2,
    family: "ipv4",
    advertIntervalMs: 1000,
    initialState: "backup",
    preempt: true,
    preemptDelayMs: 0,
    accept: true,
    releaseHold: "auto",
    srcIp: null,
    unicastPeers: [],
    allowedPeers: [],
    pinPeerMac: false,
    trackSrcIp: false,
    unicastTtl: 255,
    auth: null,
    vips: [{ address: "192.0.2.10", prefix: 32, dev: "eth0", label: null, scope: "global" }],
    excludedVips: [],
    garp: {
      masterDelayMs: 5000,
      masterRepeat: 5,
      masterRefreshMs: 0,
      masterRefreshRepeat: 1,
      lowerPrioDelayMs: 5000,
      lowerPrioRepeat: 0,
    },
    virtualRoutes: [],
    virtualRules: [],
    trackScripts: [],
    trackInterfaces: [],
    trackFiles: [],
    trackProcesses: [],
    notify: {
      master: null,
      backup: null,
      fault: null,
      stop: null,
      generic: null,
      smtpAlert: null,
      masterRxLowerPri: null,
    },
    syncGroup: null,
    vmac: null,
    vmacXmitBase: false,
    dualStackOf: null,
  };
  assert.deepEqual(config.instances[0], expected);
  assert.deepEqual(config.syncGroups, []);
  assert.deepEqual(config.scripts, []);
  assert.equal(config.file, "test.toml");
});

Deno.test("trackers and their references get their defaults", () => {
  const config = configOf(`
[vrrp_script.chk]
script = "/bin/true"
interval = 2
[vrrp_track_file.maint]
file = "/etc/hacore/maint"
[vrrp_track_process.nginx]
process = "nginx"
${VI}virtual_ipaddress = ["fe80::1", { address = "2001:db8::1", prefix = 64 }]
version = 3
track_script = [{ name = "chk", weight = -5 }]
track_interface = [{ name = "eth1", weight = -30 }, "eth2"]
`);
  assert.deepEqual(config.scripts[0], {
    name: "chk",
    check: { kind: "script", command: "/bin/true", user: null, dynamic: false },
    intervalMs: 2000,
    timeoutMs: 2000,
    weight: 0,
    rise: 1,
    fall: 1,
    initialUp: true,
  });
  assert.deepEqual(config.trackFiles[0], { name: "maint", file: "/etc/hacore/maint", weight: 1 });
  assert.deepEqual(config.trackProcesses[0], {
    name: "nginx",
    process: "nginx",
    quorum: 1,
    weight: 0,
    fullCommand: false,
  });
  const vi = config.instances[0];
  assert.equal(vi.family, "ipv6");
  assert.deepEqual(vi.vips, [
    { address: "fe80::1", prefix: 128, dev: "eth0", label: null, scope: "link" },
    { address: "2001:db8::1", prefix: 64, dev: "eth0", label: null, scope: "global" },
  ]);
  assert.deepEqual(vi.trackScripts, [{ name: "chk", weight: -5 }]);
  assert.deepEqual(vi.trackInterfaces, [{ name: "eth1", weight: -30 }, {
    name: "eth2",
    weight: null,
  }]);
});

Deno.test("the config is deeply frozen", () => {
  const config = configOf(`${VI}virtual_ipaddress = ["192.0.2.10"]\n`);
  assert.throws(() => {
    (config.instances[0] as { priority: number }).priority = 1;
  }, TypeError);
  assert.throws(() => {
    (config.instances[0].vips as unknown[]).push({});
  }, TypeError);
  assert.throws(() => {
    (config.global as { strict: boolean }).strict = true;
  }, TypeError);
  assert.ok(Object.isFrozen(config.instances[0].vips[0]));
});

Deno.test("every check type reads its own keys into a CheckSpec", () => {
  const config = configOf(`
[vrrp_script.tcp]
type = "tcp"
connect = "[::1]:8080"
[vrrp_script.web]
type = "https"
url = "https://192.0.2.5/health?full=1"
status = [200, "300-301"]
body_regex = "^ok"
digest = "D41D8CD98F00B204E9800998ECF8427E"
host_header = "www.example.com"
sni = "www.example.com"
verify_tls = false
init_fail = true
rise = 3
fall = 2
[vrrp_script.dns]
type = "dns"
server = "127.0.0.1"
query = "example.com"
record_type = "soa"
[vrrp_script.ping]
type = "icmp"
host = "2001:DB8::1"
[vrrp_script.mail]
type = "smtp"
connect = "127.0.0.1"
[vrrp_script.udp]
type = "udp"
connect = "127.0.0.1:5353"
payload_hex = "01 02ff"
expect = "^pong"
[vrrp_script.ready]
type = "file"
file = "/run/app/ready"
[vrrp_script.dyn]
script = "/usr/local/bin/w"
dynamic = true
user = "nobody"
`);
  const by = new Map(config.scripts.map((s) => [s.name, s]));
  assert.deepEqual(by.get("tcp")?.check, { kind: "tcp", target: { host: "::1", port: 8080 } });
  assert.deepEqual(by.get("web")?.check, {
    kind: "http",
    tls: true,
    target: { host: "192.0.2.5", port: 443 },
    path: "/health?full=1",
    hostHeader: "www.example.com",
    sni: "www.example.com",
    verifyTls: false,
    statusRanges: [[200, 200], [300, 301]],
    bodyRegex: "^ok",
    digest: "d41d8cd98f00b204e9800998ecf8427e",
  });
  assert.equal(by.get("web")?.initialUp, false);
  assert.equal(by.get("web")?.rise, 3);
  assert.deepEqual(by.get("dns")?.check, {
    kind: "dns",
    server: { host: "127.0.0.1", port: 53 },
    name: "example.com",
    type: "SOA",
    expect: null,
  });
  assert.deepEqual(by.get("ping")?.check, { kind: "icmp", host: "2001:db8::1" });
  assert.deepEqual(by.get("mail")?.check, {
    kind: "smtp",
    target: { host: "127.0.0.1", port: 25 },
    heloName: "hacore",
  });
  const udp = by.get("udp")?.check;
  assert.ok(udp?.kind === "udp");
  assert.equal(udp.payloadHex, "0102ff");
  assert.deepEqual(by.get("ready")?.check, { kind: "file", path: "/run/app/ready", expect: null });
  assert.deepEqual(by.get("dyn")?.check, {
    kind: "script",
    command: "/usr/local/bin/w",
    user: "nobody",
    dynamic: true,
  });
  const http = configOf(`[vrrp_script.h]\ntype = "http"\nurl = "http://127.0.0.1:8080"\n`)
    .scripts[0].check;
  assert.ok(http.kind === "http");
  assert.deepEqual(http.statusRanges, [[200, 299]]);
  assert.equal(http.path, "/");
});

Deno.test("use_vmac names the macvlan and moves the instance's VIPs onto it", () => {
  const vi = configOf(
    `${VI}virtual_ipaddress = ["192.0.2.10", { address = "192.0.2.11", label = "eth0:web" }, { address = "198.51.100.1", dev = "eth1" }]
use_vmac = true
`,
  ).instances[0];
  assert.equal(vi.vmac, "vrrp.51");
  assert.deepEqual(vi.vips.map((v) => [v.dev, v.label]), [
    ["vrrp.51", null],
    ["vrrp.51", "vrrp.51:web"],
    ["eth1", null],
  ]);
  const named = configOf(`${VI}virtual_ipaddress = ["192.0.2.10"]\nuse_vmac = "vm51"\n`);
  assert.equal(named.instances[0].vmac, "vm51");
});

Deno.test("sync groups are attached to their instances", () => {
  const config = configOf(`${VI}virtual_ipaddress = ["192.0.2.10"]
[vrrp_sync_group.G1]
group = ["VI_1"]
notify_master = "/bin/up"
`);
  assert.equal(config.instances[0].syncGroup, "G1");
  assert.deepEqual(config.syncGroups[0], {
    name: "G1",
    instances: ["VI_1"],
    notify: {
      master: "/bin/up",
      backup: null,
      fault: null,
      stop: null,
      generic: null,
      smtpAlert: null,
    },
    trackScripts: [],
    trackInterfaces: [],
    trackFiles: [],
    trackProcesses: [],
    trackingWeight: false,
    implicit: false,
  });
});

Deno.test("v3 advert intervals become whole milliseconds without float drift", () => {
  const cases: [string, number][] = [["0.01", 10], ["0.29", 290], ["0.07", 70], ["40.95", 40950], [
    "1",
    1000,
  ]];
  for (const [text, ms] of cases) {
    const config = configOf(
      `${VI}version = 3\nadvert_int = ${text}\nvirtual_ipaddress = ["192.0.2.10"]\n`,
    );
    assert.equal(config.instances[0].advertIntervalMs, ms, text);
  }
});

Deno.test("toRouterConfig: auto release hold is skew time plus one interval", () => {
  const vi = configOf(
    `${VI}priority = 100\nadvert_int = 2\nvirtual_ipaddress = ["192.0.2.10", "192.0.2.11"]\n`,
  )
    .instances[0];
  const rc = toRouterConfig(vi, "192.0.2.1");
  assert.equal(rc.advertIntervalMs, 2000);
  // (256 - 100) * 2000 / 256 + 2000
  assert.equal(rc.releaseHoldMs, 3218.75);
  assert.equal(rc.primaryIp, "192.0.2.1");
  assert.deepEqual(rc.addresses, ["192.0.2.10", "192.0.2.11"]);
  assert.equal(rc.authType, 0);
  assert.equal(rc.authPass, "");
  assert.equal(rc.initialState, "backup");
});

Deno.test("toRouterConfig: explicit durations convert to ms and the source address wins", () => {
  const vi = configOf(`${VI}version = 3
advert_int = 0.05
preempt_delay = 1.5
release_hold = 0.25
state = "MASTER"
unicast_src_ip = "192.0.2.1"
unicast_peer = ["192.0.2.2"]
virtual_ipaddress = ["192.0.2.10"]
`).instances[0];
  const rc = toRouterConfig(vi, "192.0.2.99");
  assert.equal(rc.advertIntervalMs, 50);
  assert.equal(rc.preemptDelayMs, 1500);
  assert.equal(rc.releaseHoldMs, 250);
  assert.equal(rc.primaryIp, "192.0.2.1");
  assert.deepEqual(rc.unicastPeers, ["192.0.2.2"]);
  assert.equal(rc.initialState, "master");
  assert.equal(rc.version, 3);
});

Deno.test("toRouterConfig: release_hold = 0 releases at once; auth is carried", () => {
  const vi = configOf(
    `${VI}release_hold = 0\nauthentication = { auth_type = "pass", auth_pass = "secret12" }\nvirtual_ipaddress = ["192.0.2.10"]\n`,
  ).instances[0];
  const rc = toRouterConfig(vi, "192.0.2.1");
  assert.equal(rc.releaseHoldMs, 0);
  assert.equal(rc.authType, 1);
  assert.equal(rc.authPass, "secret12");
});

Deno.test("the address owner runs at priority 255", () => {
  const vi = configOf(
    `${VI}priority = 255\nunicast_src_ip = "192.0.2.10"\nunicast_peer = ["192.0.2.2"]\nvirtual_ipaddress = ["192.0.2.10/24"]\n`,
  ).instances[0];
  assert.equal(vi.priority, 255);
  assert.equal(toRouterConfig(vi, "192.0.2.7").primaryIp, "192.0.2.10");
});

Deno.test("summarizeInstance gives one readable line", () => {
  const vi = configOf(`${VI}priority = 150\nvirtual_ipaddress = ["192.0.2.100/24"]\n`).instances[0];
  assert.equal(
    summarizeInstance(vi),
    "VI_1: eth0 vrid 51 v2 ipv4 prio 150 adv 1s preempt, 1 VIP (192.0.2.100/24), multicast",
  );
});

Deno.test("formatConfigError is FILE:LINE: PATH: MESSAGE", () => {
  assert.equal(
    formatConfigError({ file: "a.toml", line: 3, path: "global.checksum", message: "m" }),
    "a.toml:3: global.checksum: m",
  );
  assert.equal(
    formatConfigError({ file: "a.toml", line: null, path: "", message: "m" }),
    "a.toml: m",
  );
});

Deno.test("loadConfig reports an unreadable file as one error", async () => {
  const r = await loadConfig("/nonexistent/hacore.toml");
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].line, null);
  assert.match(r.errors[0].message, /^cannot read the file/);
});

Deno.test("scanner: headers, quoted and dotted keys, multi-line values", () => {
  const lines = scanKeyLines(`# comment
[ "vrrp_instance" . 'VI.1' ]
notify = """
a [fake] = header
"""
a.b = { c = 1, d = [
  1,
  2 ] }
arr = [ "x", # trailing ] comment
  "y" ]
[[list]]
k = 1
[[list]]
k = 2
`);
  assert.equal(lines.get(`vrrp_instance."VI.1"`), 2);
  assert.equal(lines.get(`vrrp_instance."VI.1".notify`), 3);
  assert.equal(lines.get(`vrrp_instance."VI.1".a.b.d[1]`), 8);
  assert.equal(lines.get(`vrrp_instance."VI.1".arr[0]`), 9);
  assert.equal(lines.get(`vrrp_instance."VI.1".arr[1]`), 10);
  assert.equal(lines.get(`list[1].k`), 14);
  assert.equal(lines.get(`fake`), undefined);
  assert.equal(lineOf(lines, ["vrrp_instance", "VI.1", "missing", 3]), 2);
  assert.equal(lineOf(lines, ["nowhere"]), null);
});

Deno.test("didYouMean ignores case and refuses unrelated words", () => {
  assert.equal(didYouMean("Priority", ["priority", "state"]), "priority");
  assert.equal(didYouMean("advert", ["advert_int", "accept"]), "advert_int");
  assert.equal(didYouMean("xyz", ["priority", "state"]), null);
});

async function captured(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await checkCommand(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("hacore check: a valid file prints ok and a summary, exit 0", async () => {
  const file = new URL("unicast.toml", EXAMPLES).pathname;
  const r = await captured([file]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.split("\n")[0], `ok: ${file}`);
  assert.match(r.out, /VI_1: ens3 vrid 20 v2 ipv4 prio 120 adv 1s preempt/);
  // The example's interface need not exist where the tests run: that is a warning only.
  const missing = Deno.statSync("/sys/class/net").isDirectory &&
    !(() => {
      try {
        return Deno.statSync("/sys/class/net/ens3").isDirectory;
      } catch {
        return false;
      }
    })();
  assert.equal(
    r.err,
    missing
      ? `${file}: warning: vrrp_instance.VI_1.interface: interface "ens3" does not exist on this host`
      : "",
  );
});

Deno.test("hacore check: a broken file prints every error and a count, exit 1", async () => {
  const file = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(file, `${VI}priorty = 1\nvirtual_ipaddress = ["192.0.2.10/40"]\n`);
    const r = await captured([file]);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
    assert.deepEqual(r.err.split("\n"), [
      `${file}:4: vrrp_instance.VI_1.priorty: unknown key "priorty" in [vrrp_instance.VI_1]; did you mean "priority"?`,
      `${file}:5: vrrp_instance.VI_1.virtual_ipaddress[0]: expected a /PREFIX in 1..32 for an IPv4 address, got "192.0.2.10/40"`,
      `2 error(s) in ${file}`,
    ]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("hacore check: an unreadable file is exit 1", async () => {
  const r = await captured(["/nonexistent/hacore.toml"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /1 error\(s\) in \/nonexistent\/hacore.toml/);
});

Deno.test("hacore check: no file or an unknown flag is usage, exit 2", async () => {
  const none = await captured([]);
  assert.equal(none.code, 2);
  assert.match(none.err, /usage: hacore check FILE/);
  const flag = await captured(["--frobnicate", "x.toml"]);
  assert.equal(flag.code, 2);
  const two = await captured(["a.toml", "b.toml"]);
  assert.equal(two.code, 2);
});

Deno.test("a 200,000-character value makes an error line under 200 characters that gives its length", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/big.toml`;
    await Deno.writeTextFile(file, `${VI}priority = "${"x".repeat(200_000)}"\n`);
    const r = await captured([file]);
    assert.equal(r.code, 1);
    const lines = r.err.split("\n");
    assert.ok(lines.every((l) => l.length < 200), lines.map((l) => l.length).join(","));
    assert.ok(lines.length >= 2);
    assert.match(
      lines.find((l) => l.includes("priority")) ?? "",
      /priority: expected an integer .*"x{63}… \(200002 characters\)$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a long key and a long message with blanks are cut too", () => {
  const line = formatConfigError({
    file: "a.toml",
    line: 1,
    path: `vrrp_instance.${"k".repeat(5000)}`,
    message: `bad ${"a ".repeat(5000)}`,
  });
  assert.ok(line.length < 400, String(line.length));
  assert.match(line, /\(5014 characters\): bad a a/);
  assert.match(line, /… \(10004 characters\)$/);
});

Deno.test("2,000 broken instances print a screenful of errors, then how many more", () => {
  let toml = "";
  for (let i = 0; i < 2000; i++) {
    toml += `[vrrp_instance.VI_${i}]\ninterface = "eth0"\nvirtual_router_id = 300\n`;
  }
  const errors = errorsOf(toml);
  assert.ok(errors.length >= 2000);
  const lines = formatConfigErrors(errors);
  assert.equal(lines.length, 21);
  assert.equal(lines[20], `and ${errors.length - 20} more errors`);
  assert.deepStrictEqual(
    formatConfigErrors(errors.slice(0, 3)),
    errors.slice(0, 3).map(formatConfigError),
  );
  assert.deepStrictEqual(formatConfigErrors(errors.slice(0, 21)).at(-1), "and 1 more error");
});

Deno.test("allowed_peers and pin_peer_mac: off by default, read canonical, split per family", () => {
  const base = `${VI}virtual_ipaddress = ["192.0.2.10"]\n`;
  const off = configOf(base).instances[0];
  assert.deepStrictEqual([off.allowedPeers, off.pinPeerMac], [[], false]);
  const on = configOf(`${base}allowed_peers = ["192.0.2.2", "192.0.2.3"]\npin_peer_mac = true\n`)
    .instances[0];
  assert.deepStrictEqual([on.allowedPeers, on.pinPeerMac], [["192.0.2.2", "192.0.2.3"], true]);
  const dual = configOf(
    `${VI}version = 3\nvirtual_ipaddress = ["192.0.2.10", "fe80::10", "2001:db8::10"]\n` +
      `allowed_peers = ["192.0.2.2", "FE80::2"]\n`,
  ).instances;
  assert.deepStrictEqual(dual.map((i) => [i.family, i.allowedPeers]), [
    ["ipv4", ["192.0.2.2"]],
    ["ipv6", ["fe80::2"]],
  ]);
});

Deno.test("allowed_peers: wrong family, duplicates, and together with unicast_peer are errors", () => {
  const base = `${VI}virtual_ipaddress = ["192.0.2.10"]\n`;
  const msgs = (t: string) => errorsOf(t).map((e) => `${e.path}: ${e.message}`);
  assert.match(
    msgs(`${base}allowed_peers = ["2001:db8::2"]\n`)[0],
    /allowed_peers\[0\]: expected an IPv4/,
  );
  assert.match(
    msgs(`${base}allowed_peers = ["192.0.2.2", "192.0.2.2"]\n`)[0],
    /duplicate peer 192\.0\.2\.2 \(also at allowed_peers\[0\]\)/,
  );
  assert.match(
    msgs(`${base}allowed_peers = ["192.0.2.2"]\nunicast_peer = ["192.0.2.2"]\n`)[0],
    /allowed_peers: expected allowed_peers only for multicast/,
  );
  assert.match(msgs(`${base}pin_peer_mac = "yes"\n`)[0], /pin_peer_mac: expected true or false/);
});
