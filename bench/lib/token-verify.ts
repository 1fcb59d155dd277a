/**
 * Micro-measure (issue 15): the cost of checking one end-user token, `jose` (WebCrypto HMAC, what the
 * bridge used before) against `fast-jwt` (synchronous `node:crypto` HMAC, what it uses now), on the
 * same tokens in one process. Each library checks every token once per round, one after the other
 * (awaited, as a connect does), with the same options (HS256 only, `iss`, `aud`, required `sub`/`exp`/
 * `iat`, key prepared once); rounds alternate which library goes first. Reported: wall time per check
 * and this process's CPU time per check (`process.cpuUsage`). `jose` is a devDependency only, kept
 * for this comparison and for forging test tokens with a second implementation.
 *
 *   npx tsx bench/lib/token-verify.ts                  # 20,000 tokens, 3 rounds
 *   BENCH_TOKENS=5000 BENCH_ROUNDS=5 npx tsx bench/lib/token-verify.ts
 */
import { loadavg } from 'node:os';
import { createVerifier } from 'fast-jwt';
import { jwtVerify } from 'jose';
import { createTokenVerifier, TokenService } from '../../src/auth/tokens.js';

const TOKENS = Number(process.env['BENCH_TOKENS'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SECRET = new TextEncoder().encode('bench-secret-bench-secret-bench-secret-0123');
const APP = 'default';

interface Candidate {
  readonly name: string;
  readonly check: (token: string) => unknown;
}

async function main(): Promise<void> {
  const service = new TokenService(SECRET, APP);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i += 1) tokens.push(await service.issue({ userId: `user-${i}`, ttlSeconds: 3_600 }));

  const key = await crypto.subtle.importKey('raw', SECRET, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const options = { issuer: 'seenn-bullmq', audience: `seenn:${APP}` };
  const fast = createVerifier({
    key: Buffer.from(SECRET),
    algorithms: ['HS256'],
    allowedIss: options.issuer,
    allowedAud: options.audience,
    requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat'],
  });
  const bridgeCheck = createTokenVerifier(SECRET, APP, 24 * 3600);
  const candidates: Candidate[] = [
    {
      name: 'jose jwtVerify (WebCrypto CryptoKey)',
      check: (token) =>
        jwtVerify(token, key, { algorithms: ['HS256'], ...options, requiredClaims: ['sub', 'exp', 'iat'] }),
    },
    { name: 'fast-jwt createVerifier (node:crypto)', check: fast },
    { name: 'bridge createTokenVerifier (fast-jwt + claims)', check: bridgeCheck },
  ];

  // Warm-up: every path JIT-compiled before the first timed round.
  for (const candidate of candidates) for (const token of tokens.slice(0, 2_000)) await candidate.check(token);

  const results = new Map<string, { wallUs: number[]; cpuUs: number[] }>();
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? candidates : [...candidates].reverse();
    for (const candidate of order) {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (const token of tokens) await candidate.check(token);
      const wallNs = Number(process.hrtime.bigint() - t0);
      const cpu = process.cpuUsage(cpu0);
      const entry = results.get(candidate.name) ?? { wallUs: [], cpuUs: [] };
      entry.wallUs.push(wallNs / 1000 / tokens.length);
      entry.cpuUs.push((cpu.user + cpu.system) / tokens.length);
      results.set(candidate.name, entry);
    }
  }

  const fmt = (values: number[]): string => values.map((v) => v.toFixed(1)).join(' / ');
  console.log(`${TOKENS} tokens, ${ROUNDS} rounds, node ${process.version}, 1-min load ${loadavg()[0]?.toFixed(2)}`);
  for (const [name, { wallUs, cpuUs }] of results)
    console.log(`${name.padEnd(48)} wall µs/check ${fmt(wallUs)}   cpu µs/check ${fmt(cpuUs)}`);
}

await main();
