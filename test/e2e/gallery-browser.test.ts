/**
 * The gallery page in a real browser: Debian's Chromium, headless, driven by playwright-core (no
 * browser download), opening the page from disk as a person who unzipped the artifact would.
 * With GALLERY_SCREENSHOT=<path>, it also saves the screenshot shown in the README.
 */
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GalleryEntry } from '../../src/gallery/entries.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const INJECTED = '<img src=x onerror=alert(1)>';
const FAIL_MESSAGE = 'The content violates the usage policy (rule 4)';
const LINES = [
  { prompt: 'a red fox running through fresh snow, low angle, golden hour', aspect_ratio: '9:16' },
  { prompt: 'waves rolling onto a pebble beach at dawn, slow motion' },
  { prompt: `a neon sign that reads ${INJECTED} flickering in the rain`, aspect_ratio: '16:9' },
  { prompt: 'a paper boat drifting down a gutter stream after the rain', aspect_ratio: 'portrait', output: 'boats/paper boat #1.mp4' },
];

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The gallery's browser test needs Debian's Chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it). It downloads no browser.`);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
});

/** A batch of sandbox clips, two of each orientation, one (any) failed by the service; then `gallery clips`. */
async function galleryOfABatch(): Promise<{ clips: string; json: GalleryEntry[] }> {
  const sb = await sandbox({ jobSeconds: 0.3, faults: { failJobs: 1, failMessage: FAIL_MESSAGE } });
  const cwd = realpathSync(tempDir('ov-browser-'));
  const configDir = tempDir('ov-config-');
  writeFileSync(join(cwd, 'jobs.jsonl'), `${LINES.map((line) => JSON.stringify(line)).join('\n')}\n`);
  const batch = await run(['batch', 'jobs.jsonl', '--output-dir', 'clips', '--concurrency', '4', '--poll-interval', '0.5'], { sandbox: sb, cwd, configDir });
  expect(batch.code, batch.stderr).toBe(4);
  const page = await run(['gallery', 'clips'], { cwd, configDir });
  expect(page.code, page.stderr).toBe(0);
  const listed = await run(['gallery', 'clips', '--json'], { cwd, configDir });
  return { clips: join(cwd, 'clips'), json: JSON.parse(listed.stdout) as GalleryEntry[] };
}

/** What each card shows, as a person reads it. */
function cards(page: Page) {
  return page.$$eval('article', (articles) =>
    articles.map((article) => {
      const text = (selector: string) => (article.querySelector(selector) as HTMLElement | null)?.innerText ?? null;
      const video = article.querySelector('video');
      return {
        status: text('.badge'),
        prompt: text('.prompt'),
        task: text('.task dd'),
        file: text('.file dd'),
        frame: text('.frame dd'),
        message: text('.notice .message'),
        video: video && { readyState: video.readyState, width: video.videoWidth, height: video.videoHeight, muted: video.muted, loop: video.loop, controls: video.controls, preload: video.preload },
      };
    }),
  );
}

describe('the gallery page in Chromium', () => {
  it('plays every clip at the frame size it states, shows the failure, runs no injected script, fetches nothing outside its folder', async () => {
    const { clips, json } = await galleryOfABatch();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    const page = await context.newPage();
    const requests: string[] = [];
    const dialogs: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(join(clips, 'index.html')).href);
    await page.waitForFunction(() => [...document.querySelectorAll('video')].every((video) => video.readyState >= 1 || video.error), undefined, { timeout: 15_000 });

    const shown = await cards(page);
    expect(shown).toHaveLength(4);
    const playing = shown.filter((card) => card.video);
    expect(playing).toHaveLength(3);
    for (const card of playing) {
      expect(card.video).toMatchObject({ muted: true, loop: true, controls: true, preload: 'metadata' });
      expect(card.video!.readyState, `${card.file} metadata read`).toBeGreaterThanOrEqual(1);
      expect(card.frame, card.file!).toBe(`${card.video!.width}×${card.video!.height}`);
    }
    expect(new Set(playing.map((card) => card.frame))).toEqual(new Set(['1280×720', '720×1280']));

    const failed = shown.filter((card) => card.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ message: FAIL_MESSAGE, video: null, file: null });

    // The prompt is there as text, visible, and made no element.
    const injected = page.locator('.prompt', { hasText: INJECTED });
    expect(await injected.count()).toBe(1);
    await expect(injected.isVisible()).resolves.toBe(true);
    expect(await injected.innerText()).toBe(LINES[2]!.prompt);
    expect(await page.locator('img, script').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);

    const folder = `${pathToFileURL(clips).href}/`;
    expect(requests.filter((url) => !url.startsWith(folder))).toEqual([]);
    // Each clip is fetched (Chromium may read a file in more than one request).
    expect([...new Set(requests.filter((url) => url.endsWith('.mp4')))].sort()).toEqual(playing.map((card) => `${folder}${encodeURI(card.file!).replace(/#/g, '%23')}`).sort());

    // `gallery --json` lists the clips of the page, in its order.
    expect(shown.map((card) => [card.task, card.status, card.file])).toEqual(json.map((entry) => [entry.task_id, entry.state.replace(/_/g, ' '), entry.file]));

    if (process.env.GALLERY_SCREENSHOT) {
      // The whole page in view, so that every video shows its first frame.
      await page.setViewportSize({ width: 1280, height: await page.evaluate(() => document.documentElement.scrollHeight) });
      await page.waitForFunction(() => [...document.querySelectorAll('video')].every((video) => video.readyState >= 2));
      await page.waitForTimeout(300);
      await page.screenshot({ path: resolve(process.env.GALLERY_SCREENSHOT), fullPage: true });
    }

    // The reader's dark setting gives a dark page; a phone gets one column and no sideways scrolling.
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await background();
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await background();
    expect(light).toBe('rgb(244, 245, 247)');
    expect(dark).toBe('rgb(13, 17, 23)');
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(new Set(await page.$$eval('article', (articles) => articles.map((article) => article.getBoundingClientRect().left))).size).toBe(1);
    await context.close();
  });
});
