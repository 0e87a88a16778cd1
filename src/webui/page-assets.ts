import { CSS } from './page/style.ts';

/** The page the server sends: HTML shell, script and stylesheet, all from the ISO (no CDN). */
export interface PageAssets {
  html: (token: string) => string;
  js: string;
  css: string;
}

/** The page's script, compiled into the bundle by scripts/bundle.mjs (esbuild `define`). */
declare const __KLDLOAD_WEBUI_JS__: string | undefined;

function shell(token: string): string {
  const q = `?token=${encodeURIComponent(token)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kldload installer</title><link rel="stylesheet" href="/app.css${q}"></head>
<body><header>kldload — install Debian with ZFS on root</header><main id="main"><p>loading…</p></main>
<script src="/app.js${q}"></script></body></html>
`;
}

/**
 * The bundle carries the compiled page. Run from source (tests under tsx), the page is compiled
 * here with the same options (scripts/page-build.mjs), so a test serves what the ISO would.
 */
export async function pageAssets(): Promise<PageAssets> {
  const js =
    typeof __KLDLOAD_WEBUI_JS__ === 'string'
      ? __KLDLOAD_WEBUI_JS__
      : // A variable specifier: esbuild leaves this dev-only import out of the bundle.
        await import(/* @vite-ignore */ DEV_BUILDER).then((m: { buildPage: () => Promise<string> }) =>
          m.buildPage(),
        );
  return { html: shell, js, css: CSS };
}

const DEV_BUILDER = new URL('../../scripts/page-build.mjs', import.meta.url).href;
