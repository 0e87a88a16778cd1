// The kldload bundle Debian's own nodejs runs in the live ISO and on installed targets: dist/kldload.mjs
// and its chunks (dist/chunks/). Split so a command loads only the code it imports: node reads and
// pre-parses every byte it loads, and in a slow VM the whole 3.8 MB cost seconds at every start
// (bench/README "spray"). The web installer's page is compiled first and carried inside as a string.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { buildPage } from './page-build.mjs';

// Chunk names carry content hashes: a chunk of an older build must not stay beside a newer entry.
rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { kldload: 'src/cli/main.ts' },
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  define: { __KLDLOAD_WEBUI_JS__: JSON.stringify(await buildPage()) },
  banner: {
    // Bundled CJS dependencies may call require(); give them one (in every file: each is a module).
    js: "#!/usr/bin/env node\nimport { createRequire as __kl_cr } from 'node:module'; const require = __kl_cr(import.meta.url);",
  },
  // ws loads these native speed-ups when installed; it works without them.
  external: ['bufferutil', 'utf-8-validate'],
  legalComments: 'none',
  logLevel: 'warning',
});
