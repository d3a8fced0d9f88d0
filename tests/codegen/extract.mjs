// The README's ```graphql blocks are the operations this client is generated from.
import { readFileSync, writeFileSync } from 'node:fs';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]);
if (blocks.length === 0) throw new Error('README.md has no ```graphql block');
writeFileSync(new URL('./src/readme.graphql', import.meta.url), blocks.join('\n'));
