/**
 * CPU per token check: `verifyToken` (jose's `jwtVerify`, WebCrypto HMAC) against the bridge's
 * synchronous check (`createTokenVerifier`, `node:crypto` on a `KeyObject`), 2,000 tokens, 3 rounds.
 * `process.cpuUsage()` covers the whole process, libuv's thread pool included.
 *
 *   npx tsx bench/lib/token-verify.ts
 */
import { SignJWT } from 'jose';
import { createTokenVerifier } from '../../src/auth/hs256.js';
import { importVerifyKey, verifyToken } from '../../src/auth/tokens.js';

const secret = new TextEncoder().encode('s'.repeat(48));
const tokens: string[] = [];
for (let i = 0; i < 2_000; i += 1) {
  tokens.push(await new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`user-${i}`).setIssuer('seenn-bullmq').setAudience('seenn:default').setIssuedAt().setExpirationTime('1h').sign(secret));
}
const key = await importVerifyKey(secret);
const sync = createTokenVerifier(secret, 'default', 86_400);
const perToken = (cpu: NodeJS.CpuUsage): string => ((cpu.user + cpu.system) / tokens.length).toFixed(1);
for (let round = 0; round < 3; round += 1) {
  let before = process.cpuUsage();
  await Promise.all(tokens.map((token) => verifyToken(token, key, 'default', 86_400)));
  const jose = process.cpuUsage(before);
  before = process.cpuUsage();
  for (const token of tokens) sync(token);
  const direct = process.cpuUsage(before);
  console.log(`round ${round + 1}: jose (WebCrypto) ${perToken(jose)} µs CPU per token, synchronous node:crypto ${perToken(direct)} µs`);
}
