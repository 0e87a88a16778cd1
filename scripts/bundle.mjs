// One self-contained ESM file that Debian's own nodejs runs in the live ISO and on installed targets.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile: 'dist/kldload.mjs',
  banner: {
    // Bundled CJS dependencies may call require(); give them one.
    js: "#!/usr/bin/env node\nimport { createRequire as __kl_cr } from 'node:module'; const require = __kl_cr(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});
