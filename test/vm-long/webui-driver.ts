/**
 * Drives the web installer's page in a real Chromium (Debian's package, through playwright-core):
 * every wizard step as a person would fill it, a screenshot of each, and the refusals the page
 * must show. Used by webui.test.ts against the live ISO in QEMU.
 */
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { parseEnvText } from '../../src/answers/parse.ts';

export const CHROMIUM = process.env.KLDLOAD_CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export class Wizard {
  private n = 0;
  constructor(
    readonly page: Page,
    private readonly shots: string,
  ) {}

  async shot(name: string): Promise<string> {
    this.n += 1;
    const file = join(this.shots, `${String(this.n).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    return file;
  }

  step(id: string) {
    return this.page.waitForSelector(`section[data-step="${id}"]`, { timeout: 60_000 });
  }

  async next(to: string): Promise<void> {
    await this.page.click('#next');
    await this.step(to);
  }

  /** The error the page shows under a field after Next was refused ('' when none). */
  async error(key: string): Promise<string> {
    return (await this.page.textContent(`#e-${key}`)) ?? '';
  }

  async fill(key: string, value: string | undefined): Promise<void> {
    if (value !== undefined) await this.page.fill(`#f-${key}`, value);
  }
}

/** The answers the wizard is filled with, read from an answers file's text. */
export function answersOf(text: string): Map<string, string> {
  return new Map([...parseEnvText(text).entries].map(([k, e]) => [k, e.value]));
}
