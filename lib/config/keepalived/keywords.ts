/**
 * Every keepalived.conf keyword hacore knows, per section, with what hacore does with
 * it. One table drives both the translator (how a keyword's value becomes a hacore key)
 * and `docs/keepalived-coverage.md` (generated from it), so the two cannot disagree.
 *
 * Statuses:
 * - `same`: the same key and meaning in hacore.toml;
 * - `renamed`: carried over under another hacore key or shape;
 * - `warned`: accepted, with a warning that names it (no effect in hacore, or obsolete);
 * - `refused`: an error naming it: hacore cannot do what it asks, and ignoring it would
 *   change what the file means.
 *
 * @module
 */

/** What hacore does with a keepalived keyword. */
export type KeywordStatus = "same" | "renamed" | "warned" | "refused";

/**
 * How a keyword's arguments become a value: one string, the rest of the line as a
 * command, an integer, a number (seconds may be fractional), a bare flag, or `custom`
 * (the translator has code for it, e.g. blocks and lists).
 */
export type ValueKind =
  | "string"
  | "command"
  | "int"
  | "number"
  | "flag"
  | "upper"
  | "lower"
  | "custom";

/**
 * One keyword of one section.
 *
 * @example
 * ```ts
 * const k = findKeyword("vrrp_instance", "nopreempt");
 * k?.status; // "same"
 * ```
 */
export interface KeywordInfo {
  readonly section: string;
  readonly keyword: string;
  readonly status: KeywordStatus;
  /** The hacore.toml key it maps to (same/renamed); null otherwise. */
  readonly hacore: string | null;
  readonly kind: ValueKind;
  /** Why it is warned or refused, or what changes in the renaming. */
  readonly note: string;
  /** keepalived itself calls it deprecated: carried over, with keepalived's warning. */
  readonly deprecated?: boolean;
  /** For checker keywords: the checker blocks that take it (keepalived refuses it elsewhere). */
  readonly checkers?: readonly string[];
}

type Entry = Omit<KeywordInfo, "section">;

const same = (keyword: string, kind: ValueKind, note = ""): Entry => ({
  keyword,
  status: "same",
  hacore: keyword,
  kind,
  note,
});
const renamed = (keyword: string, hacore: string, kind: ValueKind, note: string): Entry => ({
  keyword,
  status: "renamed",
  hacore,
  kind,
  note,
});
const warned = (keyword: string, note: string): Entry => ({
  keyword,
  status: "warned",
  hacore: null,
  kind: "custom",
  note,
});
const refused = (keyword: string, note: string): Entry => ({
  keyword,
  status: "refused",
  hacore: null,
  kind: "custom",
  note,
});

const MAIL_SPLIT =
  "hacore has one smtp_alert for VRRP and checkers alike (global, instance, group, virtual and real server)";
const NO_SNMP = "hacore has no SNMP or D-Bus agent; use the Prometheus /metrics listener";
const TUNING = "process tuning that hacore (one Deno process) does not have";
const NO_FIREWALL =
  "hacore keeps its own nftables table for no_accept; its name and priority are not settable";

const TOP: Entry[] = [
  renamed("global_defs", "global", "custom", "the [global] table"),
  same("vrrp_script", "custom", "[vrrp_script.NAME]"),
  same("vrrp_track_process", "custom", "[vrrp_track_process.NAME]"),
  renamed("track_file", "vrrp_track_file", "custom", "[vrrp_track_file.NAME]"),
  same("vrrp_track_file", "custom", "older spelling of track_file"),
  same("vrrp_instance", "custom", "[vrrp_instance.NAME]"),
  same("vrrp_sync_group", "custom", "[vrrp_sync_group.NAME]"),
  same("virtual_server_group", "custom", "[virtual_server_group.NAME]: addresses / fwmarks"),
  same(
    "virtual_server",
    "custom",
    "[virtual_server.NAME], NAME made from the address and port, fwmark or group",
  ),
  same("static_ipaddress", "custom", "each line as written; held while hacore runs"),
  same("static_routes", "custom", "each line as written; held while hacore runs"),
  same("static_rules", "custom", "each line as written; held while hacore runs"),
  refused("bfd_instance", "hacore has no BFD"),
  refused("garp_group", "hacore has no gratuitous ARP groups"),
  refused("SSL", "hacore's https checks present no client certificate"),
  warned("linkbeat_interfaces", "hacore follows links through netlink only"),
  warned("net_namespace", "run hacore inside the namespace instead (ip netns exec)"),
  warned("net_namespace_ipvs", "run hacore inside the namespace instead"),
  warned("namespace_with_ipsets", "hacore uses no ipsets"),
  warned("instance", "hacore has no instance name; one daemon per config file"),
  warned("use_pid_dir", "hacore writes one pid file of its own"),
];

const GLOBAL: Entry[] = [
  same("router_id", "string"),
  same("vrrp_version", "int"),
  same("vrrp_mcast_group4", "string"),
  same("vrrp_mcast_group6", "string"),
  same("vrrp_garp_master_delay", "int"),
  same("vrrp_garp_master_repeat", "int"),
  same("vrrp_garp_master_refresh", "int"),
  same("vrrp_garp_master_refresh_repeat", "int"),
  same("vrrp_garp_interval", "number"),
  same("vrrp_gna_interval", "number"),
  same(
    "vrrp_strict",
    "flag",
    "keepalived's RFC rules, each cleared with a warning; no_accept enforced with nftables",
  ),
  renamed(
    "notify_fifo",
    "notify_fifo",
    "string",
    `keepalived's text lines (notify_fifo_format = "keepalived"); the owner is not set`,
  ),
  renamed("vrrp_notify_fifo", "notify_fifo", "string", "alias of notify_fifo"),
  warned("notify_fifo_script", "hacore runs no FIFO reader script; read the FIFO yourself"),
  warned("vrrp_notify_fifo_script", "hacore runs no FIFO reader script"),
  warned("lvs_notify_fifo", "hacore has one notify FIFO (notify_fifo)"),
  warned("lvs_notify_fifo_script", "hacore runs no FIFO reader script"),
  same("notification_email", "custom", "a block of addresses becomes an array"),
  same("notification_email_from", "string"),
  renamed("smtp_server", "smtp_server", "custom", `"IP [PORT]" becomes "IP:PORT"`),
  same("smtp_helo_name", "string"),
  same("smtp_connect_timeout", "int"),
  same("smtp_alert", "flag"),
  warned("smtp_alert_vrrp", MAIL_SPLIT),
  warned("smtp_alert_checker", MAIL_SPLIT),
  warned("no_email_faults", "hacore mails FAULT transitions like the others"),
  warned("checker_log_all_failures", "hacore logs every check transition"),
  warned("lvs_timeouts", "hacore leaves IPVS timeouts as they are"),
  refused("lvs_sync_daemon", "hacore does not start the IPVS sync daemon"),
  warned("lvs_flush", "hacore removes only the IPVS entries it made"),
  warned("lvs_flush_on_stop", "hacore removes only the IPVS entries it made"),
  warned("vrrp_check_unicast_src", "hacore always accepts unicast adverts from listed peers only"),
  warned("vrrp_skip_check_adv_addr", "hacore always checks advert addresses"),
  same("vrrp_garp_lower_prio_delay", "int"),
  same(
    "vrrp_garp_lower_prio_repeat",
    "int",
    "unset, hacore sends none (it re-announces once the rival master is quiet)",
  ),
  warned("vrrp_lower_prio_no_advert", "hacore follows the RFC here"),
  warned("vrrp_higher_prio_send_advert", "hacore follows the RFC here"),
  warned("vrrp_min_garp", "hacore's GARP bursts are set by vrrp_garp_master_*"),
  warned("vrrp_iptables", NO_FIREWALL),
  warned("vrrp_ipsets", NO_FIREWALL),
  warned("vrrp_nftables", NO_FIREWALL),
  warned("vrrp_nftables_priority", NO_FIREWALL),
  warned("nftables_counters", NO_FIREWALL),
  warned("nftables_ifindex", NO_FIREWALL),
  warned("vrrp_priority", TUNING),
  warned("checker_priority", TUNING),
  warned("bfd_priority", TUNING),
  warned("vrrp_no_swap", TUNING),
  warned("checker_no_swap", TUNING),
  warned("bfd_no_swap", TUNING),
  warned("vrrp_rt_priority", TUNING),
  warned("checker_rt_priority", TUNING),
  warned("bfd_rt_priority", TUNING),
  warned("vrrp_rlimit_rttime", TUNING),
  warned("checker_rlimit_rttime", TUNING),
  warned("bfd_rlimit_rttime", TUNING),
  warned("vrrp_rx_bufs_policy", TUNING),
  warned("vrrp_rx_bufs_multiplier", TUNING),
  warned("vrrp_netlink_cmd_rcv_bufs", TUNING),
  warned("vrrp_netlink_cmd_rcv_bufs_force", TUNING),
  warned("vrrp_netlink_monitor_rcv_bufs", TUNING),
  warned("vrrp_netlink_monitor_rcv_bufs_force", TUNING),
  warned("lvs_netlink_cmd_rcv_bufs", TUNING),
  warned("lvs_netlink_cmd_rcv_bufs_force", TUNING),
  warned("lvs_netlink_monitor_rcv_bufs", TUNING),
  warned("lvs_netlink_monitor_rcv_bufs_force", TUNING),
  warned("process_names", TUNING),
  warned("process_name", TUNING),
  warned("vrrp_process_name", TUNING),
  warned("checker_process_name", TUNING),
  warned("bfd_process_name", TUNING),
  warned("umask", TUNING),
  warned("snmp_socket", NO_SNMP),
  warned("enable_snmp_vrrp", NO_SNMP),
  warned("enable_snmp_keepalived", NO_SNMP),
  warned("enable_snmp_checker", NO_SNMP),
  warned("enable_snmp_rfc", NO_SNMP),
  warned("enable_snmp_rfcv2", NO_SNMP),
  warned("enable_snmp_rfcv3", NO_SNMP),
  warned("enable_traps", NO_SNMP),
  warned("enable_dbus", NO_SNMP),
  warned("enable_dbus_instance", NO_SNMP),
  same(
    "dynamic_interfaces",
    "custom",
    "an instance waits in FAULT while its interface, or an address on it, is missing; allow_if_changes = true, too",
  ),
  same("script_user", "custom", "a group after the user is refused"),
  same(
    "enable_script_security",
    "flag",
    "without it hacore refuses unsafe scripts unless allow_insecure_scripts",
  ),
  warned("vrrp_notify_priority_changes", "hacore's notify FIFO has no priority events"),
  warned("max_auto_priority", "hacore sets no real-time priority"),
  warned("min_auto_priority_delay", "hacore sets no real-time priority"),
  warned("vrrp_startup_delay", "hacore starts at once"),
  warned("vrrp_garp_extra_if", "hacore sends GARPs on the VIP interfaces only"),
  warned("default_interface", "every hacore instance names its interface"),
  warned("disable_local_igmp", "hacore leaves IGMP settings as they are"),
  warned("random_seed", "hacore has no random jitter to seed"),
  warned("reload_check_config", "hacore always checks a config before it reloads"),
  warned("reload_time_file", "reload with hacore reload or SIGHUP"),
  warned("reload_repeat", "reload with hacore reload or SIGHUP"),
  warned("reload_file", "reload with hacore reload or SIGHUP"),
  warned("data_use_instance", "hacore writes no data dumps"),
  warned("startup_script", "run it from the service manager (ExecStartPre)"),
  warned("startup_script_timeout", "run it from the service manager"),
  warned("shutdown_script", "run it from the service manager (ExecStopPost)"),
  warned("shutdown_script_timeout", "run it from the service manager"),
  warned("vrrp_cpu_affinity", TUNING),
  warned("checker_cpu_affinity", TUNING),
  warned("bfd_cpu_affinity", TUNING),
  warned("process_monitor_rcv_bufs", TUNING),
  warned("process_monitor_rcv_bufs_force", TUNING),
  warned("config_save_dir", "hacore saves no copies of its config"),
  warned("tmp_config_directory", "hacore writes no temporary config files"),
  warned("include_check", "hacore always checks a config before it reloads"),
  warned("dbus_service_name", NO_SNMP),
  warned("fifo_write_vrrp_states_on_reload", "hacore's notify FIFO has events only"),
  warned("log_unknown_vrids", "hacore counts adverts for unknown VRIDs in its metrics"),
  warned("nftables", NO_FIREWALL),
  warned("nftables_priority", NO_FIREWALL),
  warned("nftables_ipvs", NO_FIREWALL),
  warned("nftables_ipvs_priority", NO_FIREWALL),
  warned("nftables_ipvs_start_fwmark", NO_FIREWALL),
  warned("no_checker_emails", MAIL_SPLIT),
  warned("rs_init_notifies", "hacore runs real server notify hooks on changes only"),
  warned("vmac_prefix", "hacore names macvlans with use_vmac"),
  warned("vmac_addr_prefix", "hacore names macvlans with use_vmac"),
  warned("vrrp_down_timer_adverts", "hacore uses the RFC's Master_Down_Interval"),
];

const SCRIPT: Entry[] = [
  same("script", "command", "the external check (type = script)"),
  same("interval", "number"),
  same("timeout", "number"),
  same("weight", "custom", `"reverse" is refused`),
  same("rise", "int"),
  same("fall", "int"),
  same("user", "custom", "a group after the user is refused"),
  same("init_fail", "flag"),
];

const TRACK_PROCESS: Entry[] = [
  same("process", "custom", "parameters after the name are refused"),
  same("quorum", "int"),
  same("weight", "custom", `"reverse" is refused`),
  same("full_command", "flag"),
  refused("param_match", "hacore matches the name or the whole command line only"),
  refused("quorum_max", "hacore has no upper quorum"),
  warned("delay", "hacore reacts to process changes at once"),
  warned("terminate_delay", "hacore reacts to process changes at once"),
  warned("fork_delay", "hacore reacts to process changes at once"),
];

const TRACK_FILE: Entry[] = [
  same("file", "string"),
  same("weight", "custom", `"reverse" is refused`),
  refused("init_file", "hacore never writes a tracked file"),
];

const INSTANCE: Entry[] = [
  same("interface", "string"),
  same("virtual_router_id", "int"),
  same("priority", "int"),
  same("advert_int", "custom", "under VRRPv2 a fraction is rounded, with a warning, as keepalived"),
  same("version", "int"),
  same("state", "upper"),
  same("nopreempt", "flag"),
  warned("preempt", "the default; hacore preempts unless nopreempt"),
  same("preempt_delay", "number"),
  same("accept", "flag"),
  same("no_accept", "flag", "traffic to the VIPs dropped with nftables while master"),
  same("mcast_src_ip", "string"),
  same("unicast_src_ip", "string"),
  same("unicast_peer", "custom", "min_ttl / max_ttl are refused"),
  same("unicast_ttl", "int", "IPv4 only; unicast instances do not check the TTL they receive"),
  warned("unicast_fault_no_peer", "an instance with no peers is refused by hacore anyway"),
  warned("check_unicast_src", "hacore accepts unicast adverts from listed peers only"),
  same("authentication", "custom", "auth_pass longer than 8 bytes is cut, with a warning"),
  same("virtual_ipaddress", "custom", "each line carried over as written (the VIP line syntax)"),
  same("virtual_ipaddress_excluded", "custom", "each line carried over as written"),
  same("virtual_routes", "custom", "each line as written; held while master"),
  same("virtual_rules", "custom", "each line as written; held while master"),
  same("track_script", "custom"),
  same("track_interface", "custom"),
  same("track_file", "custom"),
  same("track_process", "custom"),
  refused("track_bfd", "hacore has no BFD"),
  same("notify_master", "command"),
  same("notify_backup", "command"),
  same("notify_fault", "command"),
  same("notify_stop", "command"),
  same("notify", "command"),
  warned("notify_deleted", "hacore has no deleted state"),
  same("notify_master_rx_lower_pri", "command"),
  same("smtp_alert", "flag"),
  same("use_vmac", "custom", "a name or the default vrrp.VRID"),
  same("vmac_xmit_base", "flag", "adverts from the base interface, VIPs on the macvlan"),
  refused("use_ipvlan", "hacore makes macvlans only"),
  warned("native_ipv6", "hacore decides the family from the VIPs"),
  warned("dont_track_primary", "hacore tracks the instance's interface"),
  warned("skip_check_adv_addr", "hacore always checks advert addresses"),
  warned("strict_mode", "use global vrrp_strict"),
  same("garp_master_delay", "int"),
  same("garp_master_repeat", "int"),
  same("garp_master_refresh", "int"),
  same("garp_master_refresh_repeat", "int"),
  same("garp_lower_prio_delay", "int"),
  same("garp_lower_prio_repeat", "int", "unset, hacore sends none (see the global one)"),
  warned("lower_prio_no_advert", "hacore follows the RFC here"),
  warned("higher_prio_send_advert", "hacore follows the RFC here"),
  warned("debug", "hacore's log level is global"),
  warned("linkbeat_use_polling", "hacore follows links through netlink only"),
  warned("lvs_sync_daemon_interface", "obsolete in keepalived; hacore has no sync daemon"),
  warned("kernel_rx_buf_size", TUNING),
  warned("promote_secondaries", "hacore leaves the sysctl as it is"),
  same("track_src_ip", "flag", "FAULT while the advert source address is gone"),
  warned("old_unicast_checksum", "hacore computes the RFC checksum (see global checksum)"),
  warned("notify_priority_changes", "hacore's notify FIFO has no priority events"),
  warned("down_timer_adverts", "hacore uses the RFC's Master_Down_Interval"),
  warned("garp_extra_if", "hacore sends GARPs on the VIP interfaces only"),
  warned("use_vmac_addr", "hacore gives the macvlan the virtual MAC, as use_vmac does"),
  refused(
    "mcast_dst_ip",
    "set the group for every instance with global_defs vrrp_mcast_group4 / vrrp_mcast_group6",
  ),
];

const AUTH: Entry[] = [
  same("auth_type", "upper", "PASS only; AH is refused"),
  same("auth_pass", "custom", "cut to 8 bytes with a warning, as keepalived"),
];

const SYNC_GROUP: Entry[] = [
  same("group", "custom"),
  same("notify_master", "command"),
  same("notify_backup", "command"),
  same("notify_fault", "command"),
  same("notify_stop", "command"),
  same("notify", "command"),
  same("track_script", "custom"),
  same("track_interface", "custom"),
  same("track_file", "custom"),
  same("track_process", "custom"),
  refused("track_bfd", "hacore has no BFD"),
  same("sync_group_tracking_weight", "flag"),
  warned("global_tracking", "obsolete in keepalived (use sync_group_tracking_weight)"),
  warned("notify_priority_changes", "hacore's notify FIFO has no priority events"),
  same("smtp_alert", "flag"),
];

const VS: Entry[] = [
  same("delay_loop", "number"),
  same("lb_algo", "lower"),
  same("lvs_sched", "lower"),
  same("lb_kind", "upper"),
  same("lvs_method", "upper"),
  same("protocol", "lower"),
  same("persistence_timeout", "int"),
  same("persistence_granularity", "custom"),
  same("persistence_engine", "string"),
  same("virtualhost", "string"),
  same("sorry_server", "custom", "[virtual_server.NAME.sorry_server]"),
  renamed("sorry_server_inhibit", "sorry_server.inhibit", "flag", "inside sorry_server"),
  renamed("sorry_server_lvs_method", "sorry_server.lb_kind", "upper", "inside sorry_server"),
  same("alpha", "flag"),
  same("omega", "flag"),
  same("quorum", "int"),
  same("hysteresis", "int"),
  same("quorum_up", "command"),
  same("quorum_down", "command"),
  same("ha_suspend", "flag"),
  same("ops", "flag"),
  same("inhibit_on_failure", "flag"),
  same("connect_timeout", "number"),
  same("retry", "int"),
  same("delay_before_retry", "number"),
  same("warmup", "number"),
  renamed("sh-fallback", "sh_fallback", "flag", "underscore"),
  renamed("sh-port", "sh_port", "flag", "underscore"),
  renamed("mh-fallback", "mh_fallback", "flag", "underscore"),
  renamed("mh-port", "mh_port", "flag", "underscore"),
  same("real_server", "custom", "[[virtual_server.NAME.real_server]]"),
  same("smtp_alert", "flag"),
  warned("snmp_name", NO_SNMP),
  warned("ip_family", "hacore decides the family from the addresses"),
];

const RS: Entry[] = [
  same("weight", "int"),
  same("inhibit_on_failure", "flag"),
  same("notify_up", "command"),
  same("notify_down", "command"),
  same("uthreshold", "int"),
  same("lthreshold", "int"),
  same("lvs_method", "upper"),
  renamed("TCP_CHECK", "check type = tcp", "custom", "one [[...real_server.check]]"),
  renamed("HTTP_GET", "check type = http", "custom", "one check per url block"),
  renamed("SSL_GET", "check type = https", "custom", "one check per url block"),
  renamed("MISC_CHECK", "check type = script", "custom", "misc_path becomes script"),
  renamed("DNS_CHECK", "check type = dns", "custom", "name becomes query, type record_type"),
  renamed("SMTP_CHECK", "check type = smtp", "custom", "host blocks are refused"),
  renamed("PING_CHECK", "check type = icmp", "custom", ""),
  renamed("UDP_CHECK", "check type = udp", "custom", "payload carried over"),
  refused("FILE_CHECK", "use a vrrp_track_file or a file check instead"),
  refused("BFD_CHECK", "hacore has no BFD"),
  same("smtp_alert", "flag"),
  warned("alpha", "a real server's alpha: hacore's is per virtual server"),
  renamed("connect_timeout", "check.connect_timeout", "custom", "given to each of its checks"),
  renamed("delay_loop", "check.delay_loop", "custom", "given to each of its checks"),
  renamed("retry", "check.retry", "custom", "given to each of its checks"),
  renamed("delay_before_retry", "check.delay_before_retry", "custom", "given to its checks"),
  renamed("warmup", "check.warmup", "custom", "given to each of its checks"),
  warned("virtualhost", "set virtualhost on the virtual server or in the check"),
];

const CONNECTING = [
  "TCP_CHECK",
  "HTTP_GET",
  "SSL_GET",
  "DNS_CHECK",
  "SMTP_CHECK",
  "UDP_CHECK",
  "PING_CHECK",
];
const HTTP = ["HTTP_GET", "SSL_GET"];
const on = (checkers: readonly string[], e: Entry): Entry => ({ ...e, checkers });

const CHECK: Entry[] = [
  on(CONNECTING, same("connect_ip", "string")),
  on(CONNECTING, same("connect_port", "int")),
  on(CONNECTING, same("connect_timeout", "number")),
  same("retry", "int"),
  on(HTTP, {
    ...renamed("nb_get_retry", "retry", "int", "deprecated in keepalived"),
    deprecated: true,
  }),
  same("delay_before_retry", "number"),
  same("delay_loop", "number"),
  same("warmup", "number"),
  on(CONNECTING, refused("bindto", "hacore checks from the host's routed source address")),
  on(CONNECTING, refused("bind_port", "hacore checks from an ephemeral port")),
  on(CONNECTING, refused("bind_if", "hacore checks through the routed interface")),
  on(CONNECTING, refused("fwmark", "hacore's checks carry no firewall mark")),
  warned("alpha", "hacore's alpha is per virtual server"),
  warned("log_all_failures", "hacore logs every check transition"),
  on(HTTP, same("url", "custom", "path, status_code, digest; regex becomes body_regex")),
  on(HTTP, renamed("virtualhost", "host_header", "string", "the Host header")),
  on(HTTP, warned("http_protocol", "hacore sends HTTP/1.1")),
  on(HTTP, renamed("enable_sni", "sni", "custom", "SNI from virtualhost")),
  on(HTTP, warned("fast_recovery", "hacore counts rise as set")),
  on(["MISC_CHECK"], renamed("misc_path", "script", "command", "type = script")),
  on(["MISC_CHECK"], renamed("misc_timeout", "connect_timeout", "custom", "the script's timeout")),
  on(["MISC_CHECK"], renamed("misc_dynamic", "dynamic", "flag", "exit codes set the weight")),
  on(["MISC_CHECK"], same("user", "string")),
  on(["DNS_CHECK"], renamed("type", "record_type", "upper", "the DNS record type")),
  on(["DNS_CHECK"], renamed("name", "query", "string", "the name asked for")),
  on(["SMTP_CHECK"], same("helo_name", "string")),
  on(["SMTP_CHECK"], refused("host", "one SMTP_CHECK per server: write one check per address")),
  on(["UDP_CHECK"], renamed("payload", "payload_hex", "custom", "hex bytes as written")),
  on(
    ["UDP_CHECK"],
    warned("require_reply", "hacore's UDP check passes on any reply, or none without expect"),
  ),
  on(["UDP_CHECK"], warned("min_reply_length", "hacore checks the reply with expect only")),
  on(["UDP_CHECK"], warned("max_reply_length", "hacore checks the reply with expect only")),
];

const URL: Entry[] = [
  renamed("path", "url", "string", "the URL path"),
  renamed("status_code", "status", "custom", "codes and ranges"),
  same("digest", "lower"),
  renamed("regex", "body_regex", "string", "a JavaScript regular expression"),
  warned("regex_no_match", "hacore's body_regex must match"),
  warned("regex_options", "hacore's body_regex has no options"),
  warned("regex_max_offset", "hacore's body_regex reads the whole body"),
  warned("regex_min_offset", "hacore's body_regex reads the whole body"),
  warned("regex_stack", "hacore's body_regex has no stack setting"),
  renamed("virtualhost", "host_header", "string", "the Host header of this URL"),
];

const SECTIONS: Readonly<Record<string, readonly Entry[]>> = {
  "(top level)": TOP,
  global_defs: GLOBAL,
  vrrp_script: SCRIPT,
  vrrp_track_process: TRACK_PROCESS,
  track_file: TRACK_FILE,
  vrrp_instance: INSTANCE,
  authentication: AUTH,
  vrrp_sync_group: SYNC_GROUP,
  virtual_server: VS,
  real_server: RS,
  "checker (TCP_CHECK, HTTP_GET, ...)": CHECK,
  url: URL,
};

/** Every keyword, grouped by section, in the order the docs list them. */
export const KEYWORDS: readonly KeywordInfo[] = Object.entries(SECTIONS).flatMap((
  [section, entries],
) => entries.map((e) => ({ section, ...e })));

/**
 * The keyword `keyword` of `section`, or undefined when hacore does not know it.
 *
 * @example
 * ```ts
 * findKeyword("global_defs", "lvs_id")?.status; // "warned"
 * ```
 */
export function findKeyword(section: string, keyword: string): KeywordInfo | undefined {
  return (byName ??= keywordIndex()).get(section)?.get(keyword);
}

/**
 * section → keyword → its entry (the first, as a scan of {@link KEYWORDS} finds): asked
 * once per keyword of a file, a scan of ~500 entries each was a tenth of reading a
 * 1,000-service keepalived.conf, and a `section NUL keyword` string built per look-up
 * was still a few percent of it.
 */
let byName: Map<string, Map<string, KeywordInfo>> | null = null;

function keywordIndex(): Map<string, Map<string, KeywordInfo>> {
  const m = new Map<string, Map<string, KeywordInfo>>();
  for (const k of KEYWORDS) {
    let section = m.get(k.section);
    if (section === undefined) m.set(k.section, section = new Map());
    if (!section.has(k.keyword)) section.set(k.keyword, k);
  }
  return m;
}

/**
 * Keywords of a section, for "did you mean".
 *
 * @example
 * ```ts
 * keywordsOf("url"); // ["path", "status_code", ...]
 * ```
 */
export function keywordsOf(section: string): string[] {
  return KEYWORDS.filter((k) => k.section === section).map((k) => k.keyword);
}

/** The section name the table uses for keepalived's checker blocks. */
export const CHECKER_SECTION = "checker (TCP_CHECK, HTTP_GET, ...)";
/** The section name the table uses for top-level keywords. */
export const TOP_SECTION = "(top level)";
