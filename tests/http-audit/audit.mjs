// Usage: node audit.mjs <graphql endpoint URL>
// Prints every audit that is not "ok" and a summary line; exits 1 if any MUST or SHOULD
// (or MAY) audit is not ok.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url>');
  process.exit(2);
}
const results = await auditServer({ url });
const notOk = results.filter((r) => r.status !== 'ok');
for (const r of notOk) console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
console.log(`graphql-http audit: ${results.length} audits, ${results.length - notOk.length} ok, ${notOk.length} not ok`);
process.exit(notOk.length ? 1 : 0);
