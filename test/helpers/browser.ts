/** Headless Debian Chromium through playwright-core for the browser tests, and where they leave artifacts. */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from '../../lib/plot/svg';

/** Starts headless Chromium (fresh temporary profile, no network chatter); fails with what to install when it is missing. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(`browser tests need Chromium at ${executablePath}: install Debian's chromium (scripts/ensure-deps.sh does), or set TSFREEZE_CHROMIUM to another Chromium`);
  }
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** The folder for test artifacts (screenshots, pages): $TSFREEZE_ARTIFACTS, else <os tmpdir>/tsfreeze-artifacts; created. */
export function artifactDir(): string {
  const dir = process.env.TSFREEZE_ARTIFACTS || join(tmpdir(), 'tsfreeze-artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}
