import { describe, expect, it } from 'vitest';
import type { GalleryEntry } from '../../src/gallery/entries.js';
import { escapeHtml, fileHref, renderGalleryPage } from '../../src/gallery/page.js';
import { stateOfStatus } from '../../src/io/job-states.js';

const INJECTED = '<img src=x onerror=alert(1)>';

function entry(fields: Partial<GalleryEntry>): GalleryEntry {
  return {
    task_id: 'task_01KS1H7ZYSJWH1N779S2FSHTKA',
    status: 'completed',
    state: stateOfStatus(fields.status ?? 'completed'),
    prompt: 'a red fox running through snow',
    aspect_ratio: '16:9',
    file: '001-a-red-fox.mp4',
    file_exists: true,
    width: 1280,
    height: 720,
    duration_seconds: 3,
    cost: 1,
    credits_cost: 10,
    created_at: '2026-11-25T18:04:05.000Z',
    error: null,
    line: 1,
    ...fields,
  };
}

const render = (entries: GalleryEntry[], extra: { total?: number; filter?: string } = {}) =>
  renderGalleryPage({ title: 'clips', generatedAtMs: Date.parse('2026-11-25T19:00:00Z'), entries, total: extra.total ?? entries.length, filter: extra.filter });

/** The HTML of the card of a task. */
function cardOf(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  expect(start, `a card for ${id}`).toBeGreaterThan(0);
  return html.slice(start, html.indexOf('</article>', start));
}

describe('gallery page', () => {
  it('escapes every text that comes from a batch file or the service, in elements and in attributes', () => {
    const html = render([
      entry({ task_id: 'task_A', prompt: INJECTED, file: `"><script>alert(2)</script>.mp4` }),
      entry({ task_id: 'task_B', status: 'failed', file: null, file_exists: false, error: { message: `</p><script>alert(3)</script> & 'quotes'` } }),
    ]);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script');
    expect(cardOf(html, 'task_A')).toContain('<p class="prompt">&#60;img src=x onerror=alert(1)&#62;</p>');
    expect(cardOf(html, 'task_B')).toContain('<p class="message">&#60;/p&#62;&#60;script&#62;alert(3)&#60;/script&#62; &#38; &#39;quotes&#39;</p>');
    expect(escapeHtml(`<>&"'`)).toBe('&#60;&#62;&#38;&#34;&#39;');
  });

  it('URL-encodes file names in src and href, segment by segment: no name becomes a scheme, a query or a fragment', () => {
    expect(fileHref('boats/paper boat #1?.mp4')).toBe('boats/paper%20boat%20%231%3F.mp4');
    expect(fileHref('javascript:alert(1).mp4')).toBe('javascript%3Aalert(1).mp4');
    expect(fileHref('été/ß.mp4')).toBe('%C3%A9t%C3%A9/%C3%9F.mp4');
    const card = cardOf(render([entry({ file: 'boats/paper boat #1.mp4' })]), 'task_01KS1H7ZYSJWH1N779S2FSHTKA');
    expect(card).toContain('<video controls preload="metadata" muted loop playsinline src="boats/paper%20boat%20%231.mp4" width="1280" height="720"></video>');
    expect(card).toContain('<a href="boats/paper%20boat%20%231.mp4">boats/paper boat #1.mp4</a>');
  });

  it('shows a completed clip with its prompt, task id, status, aspect ratio, length, frame size, cost and date', () => {
    const card = cardOf(render([entry({})]), 'task_01KS1H7ZYSJWH1N779S2FSHTKA');
    for (const text of [
      '<span class="badge ok">completed</span>',
      '<span class="line">line 1</span>',
      '<p class="prompt">a red fox running through snow</p>',
      '<dt>aspect</dt><dd>16:9</dd>',
      '<dt>length</dt><dd>3.0 s</dd>',
      '<dt>frame</dt><dd>1280×720</dd>',
      '<dt>cost</dt><dd>1</dd>',
      '<dt>created</dt><dd><time datetime="2026-11-25T18:04:05.000Z">2026-11-25 18:04 UTC</time></dd>',
      '<dt>task</dt><dd>task_01KS1H7ZYSJWH1N779S2FSHTKA</dd>',
    ]) {
      expect(card).toContain(text);
    }
  });

  it('shows the service message instead of a player for failed and cancelled jobs, and says why for the others', () => {
    const html = render([
      entry({ task_id: 'task_F', status: 'failed', file: null, file_exists: false, error: { message: 'The content violates the usage policy' } }),
      entry({ task_id: 'task_C', status: 'cancelled', file: null, file_exists: false, error: { message: 'cancelled' } }),
      entry({ task_id: 'task_M', file: '002-gone.mp4', file_exists: false, width: null, height: null, duration_seconds: null }),
      entry({ task_id: null, line: 7, status: 'not_run', file: '007-later.mp4', file_exists: false, cost: null, created_at: null }),
      entry({ task_id: 'task_P', status: 'processing', file: null, file_exists: false }),
      entry({ task_id: 'task_I', status: 'pending', state: 'interrupted', file: null, file_exists: false }),
    ]);
    expect(html.match(/<video /g)).toBeNull();
    expect(cardOf(html, 'task_F')).toContain('<strong>failed</strong><p class="message">The content violates the usage policy</p>');
    expect(cardOf(html, 'task_C')).toContain('<strong>cancelled</strong>');
    expect(cardOf(html, 'task_M')).toContain('<strong>file missing</strong><p class="message">002-gone.mp4 is not in this folder.</p>');
    expect(cardOf(html, 'task_M')).toContain('<s>002-gone.mp4</s>');
    expect(cardOf(html, 'line-7')).toContain('<strong>not run</strong>');
    expect(cardOf(html, 'task_P')).toContain('<span class="badge wait">generating</span>');
    expect(cardOf(html, 'task_P')).toContain('<strong>still generating</strong>');
    expect(cardOf(html, 'task_I')).toContain('<span class="badge wait">interrupted</span>');
    expect(cardOf(html, 'task_I')).toContain('<strong>still queued</strong><p class="message">Its wait was interrupted while it ran on the service; it was not saved.</p>');
    expect(html).toContain('6 clips · <span class="tally bad">1 failed</span>');
  });

  it('is one self-contained page: inline CSS, no script, nothing fetched from elsewhere, both colour schemes, phone-sized', () => {
    const html = render([entry({}), entry({ task_id: 'task_2', file: '002.mp4', width: 720, height: 1280, aspect_ratio: '9:16' })]);
    expect(html).not.toMatch(/<script|<link|<iframe|<img|@import|url\(|https?:\/\//i);
    expect(html).toContain('<style>');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">`);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain('@media (prefers-color-scheme:dark)');
    expect(html).toContain('<meta name="color-scheme" content="light dark">');
    expect(html).toContain('2 clips · <span class="tally ok">2 completed</span> · cost 2 (20 credits)');
  });

  it('says when filters hide entries, and when there is nothing to show', () => {
    expect(render([entry({})], { total: 3, filter: 'status completed' })).toContain('Showing 1 of 3: status completed. ');
    expect(render([], { total: 3, filter: 'status failed' })).toContain('No clip matches the filters.');
    expect(render([])).toContain('No clips here yet');
  });
});
