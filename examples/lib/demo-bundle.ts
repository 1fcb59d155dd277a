/**
 * Builds the demo page's script: `examples/web/app.tsx` with the package's client and React hooks,
 * bundled for browsers by esbuild, in memory.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The page's directory (`examples/web`). */
export const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

/** Bundles the page script; returns its JavaScript. Throws with esbuild's messages when it does not build. */
export async function buildDemoBundle(): Promise<string> {
  const result = await build({
    entryPoints: [`${WEB_DIR}app.tsx`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    jsx: 'automatic',
    minify: true,
    sourcemap: 'inline',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output');
  return output.text;
}
