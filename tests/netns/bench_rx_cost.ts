/**
 * Measures the receive cost per advert of the two transports: the packet socket that
 * reports the sender's MAC (default) and the raw IP socket (linkLayer: false). Sends
 * a burst of adverts from one namespace to another and reports the receiving side's
 * wall time per packet. Run by hand: `deno run -A tests/netns/bench_rx_cost.ts`.
 */
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import { SystemTransportFactory } from "../../lib/sys/transport.ts";
import { inNetns, withLab } from "./helpers.ts";

const N = 20_000;
const GROUP = "224.0.0.18";

function advert(vrid: number): Uint8Array {
  return encodeAdvert(
    {
      version: 3,
      vrid,
      priority: 100,
      intervalMs: 1000,
      addresses: ["198.51.100.1"],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src: "192.0.2.1", dst: GROUP },
    "pseudo-header",
  );
}

async function ipNs(ns: string, ...args: string[]) {
  const r = await new Deno.Command("ip", { args: ["-n", ns, ...args] }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}

for (const linkLayer of [false, true, false, true]) {
  await withLab(async (lab) => {
    const nsA = await lab.netns();
    const nsB = await lab.netns();
    const [a, b] = await lab.veth(nsA, nsB);
    await ipNs(nsA, "addr", "add", "192.0.2.1/24", "dev", a);
    await ipNs(nsB, "addr", "add", "192.0.2.2/24", "dev", b);
    const factory = new SystemTransportFactory({ linkLayer });
    let got = 0;
    try {
      const req = (dev: string) => ({ interface: dev, family: "ipv4" as const, group: GROUP });
      const tA = inNetns(nsA, () => factory.open(req(a), () => {}));
      inNetns(nsB, () =>
        factory.open(req(b), () => {
          got++;
        }));
      const bytes = advert(1);
      const t0 = performance.now();
      // Batches of 100, each waited for: a burst bigger than the receive buffer would
      // measure loss, not cost.
      const deadline = t0 + 20_000;
      for (let sent = 0; sent < N && performance.now() < deadline;) {
        for (let i = 0; i < 100; i++, sent++) tA.send(bytes, GROUP, "192.0.2.1");
        while (got < sent && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 0));
        }
      }
      const ms = performance.now() - t0;
      console.log(
        `${linkLayer ? "packet socket" : "raw socket   "}: ${got}/${N} in ${ms.toFixed(0)} ms, ${
          (ms * 1000 / N).toFixed(1)
        } µs per advert (send and receive, one thread)`,
      );
    } finally {
      await factory.close();
    }
  });
}
