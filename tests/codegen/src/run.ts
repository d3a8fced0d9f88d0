// Runs the generated operations against a gateway that accepts trusted documents only, by hash
// alone, in the three ways clients send one, and prints a JSON report.
// Usage: node dist/run.js <gateway /graphql URL>
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { ChartDocument, LoginDocument, ScreenDocument } from './gql/graphql.js';
import type { ChartQuery, LoginMutation, ScreenQuery } from './gql/graphql.js';

const url: string = process.argv[2] ?? '';
if (!url) throw new Error('usage: run.js <gateway /graphql URL>');

type Answer<T> = { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };

/** The hash the client preset gave the document (`sha256:<hex>`). */
function hashOf<T, V>(doc: TypedDocumentNode<T, V>): string {
  const meta = (doc as unknown as { __meta__?: { hash?: string } }).__meta__;
  if (!meta?.hash) throw new Error('the document has no persisted hash');
  return meta.hash;
}

const apq = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash.replace(/^sha256:/, '') } });

/** GET with Apollo's extension: the form a CDN can cache. */
async function get<T, V>(doc: TypedDocumentNode<T, V>, variables: V): Promise<Answer<T>> {
  const params = new URLSearchParams({
    variables: JSON.stringify(variables),
    extensions: JSON.stringify(apq(hashOf(doc))),
  });
  const r = await fetch(`${url}?${params}`, { headers: { Accept: 'application/graphql-response+json' } });
  return (await r.json()) as Answer<T>;
}

/** POST with `documentId` (GraphQL over HTTP's persisted documents) or Apollo's extension. */
async function post<T, V>(doc: TypedDocumentNode<T, V>, variables: V, form: 'documentId' | 'apq'): Promise<Answer<T>> {
  const body = form === 'documentId' ? { documentId: hashOf(doc), variables } : { extensions: apq(hashOf(doc)), variables };
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return (await r.json()) as Answer<T>;
}

const screen: Answer<ScreenQuery> = await get(ScreenDocument, { region: 'KR' });
const chart: Answer<ChartQuery> = await post(ChartDocument, { ticker: '005930', region: 'KR' }, 'documentId');
const login: Answer<LoginMutation> = await post(
  LoginDocument,
  { email: 'analyst@quantgraph.dev', password: 'quantgraph' },
  'apq',
);

// Typed reads of the answers: these lines only compile if the generated types fit the schema.
const firstTicker: string | undefined = screen.data?.tickers.nodes[0]?.ticker;
// (`close` is nullable in the schema: a bar may lack a price.)
const closes: (string | null)[] = chart.data?.ohlcvData.nodes.map((b) => b.close) ?? [];
const role: string | undefined = login.data?.login.user.role;

console.log(
  JSON.stringify({
    hashes: { screen: hashOf(ScreenDocument), chart: hashOf(ChartDocument), login: hashOf(LoginDocument) },
    screen,
    chart,
    login: { errors: login.errors, role, token: typeof login.data?.login.token },
    firstTicker,
    closes: closes.length,
  }),
);
