// One self-contained ESM file that Debian's own nodejs runs in the live ISO and on installed targets.
// The web installer's page is compiled first and carried inside it as a string.
import { build } from 'esbuild';
import { buildPage } from './page-build.mjs';

await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile: 'dist/kldload.mjs',
  define: { __KLDLOAD_WEBUI_JS__: JSON.stringify(await buildPage()) },
  banner: {
    // Bundled CJS dependencies may call require(); give them one.
    js: "#!/usr/bin/env node\nimport { createRequire as __kl_cr } from 'node:module'; const require = __kl_cr(import.meta.url);",
  },
  // ws loads these native speed-ups when installed; it works without them.
  external: ['bufferutil', 'utf-8-validate'],
  legalComments: 'none',
  logLevel: 'warning',
});
