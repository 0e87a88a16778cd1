// The web installer's page as one browser script (an IIFE string), with the answers validation
// bundled in. node: modules the validators import are replaced by small browser shims.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const shim = (name) => `${root}src/webui/page/shims/${name}.ts`;

export async function buildPage() {
  const r = await build({
    absWorkingDir: root,
    entryPoints: ['src/webui/page/app.ts'],
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
    alias: { 'node:net': shim('net'), 'node:fs': shim('fs') },
    inject: [shim('buffer')],
  });
  return r.outputFiles[0].text;
}
