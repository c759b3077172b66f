import assert from "node:assert/strict";
import { COVERAGE_DOC, formattedCoverage } from "../../scripts/gen-coverage.ts";
import { KEYWORDS } from "../../lib/config/keepalived/keywords.ts";

Deno.test("docs/keepalived-coverage.md is what scripts/gen-coverage.ts generates", async () => {
  const committed = await Deno.readTextFile(new URL(`../../${COVERAGE_DOC}`, import.meta.url));
  assert.equal(
    committed,
    await formattedCoverage(),
    "stale: run `deno run -A scripts/gen-coverage.ts`",
  );
});

Deno.test("the keyword table names each keyword once per section, with a note where it is not carried over", () => {
  const seen = new Set<string>();
  for (const k of KEYWORDS) {
    const id = `${k.section}/${k.keyword}`;
    assert.ok(!seen.has(id), `${id} is listed twice`);
    seen.add(id);
    if (k.status === "warned" || k.status === "refused") assert.notEqual(k.note, "", id);
    assert.equal(k.hacore === null, k.status === "warned" || k.status === "refused", id);
  }
});
