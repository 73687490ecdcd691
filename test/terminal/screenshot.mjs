#!/usr/bin/env node
/**
 * Makes the README's screenshots from a real terminal: runs the built CLI against the sandbox in
 * tmux, captures the pane (with its colours) while the spinner turns and once it is done, and
 * renders each capture as an SVG of its text lines.
 *
 *   npm run build && node test/terminal/screenshot.mjs
 *
 * Writes test/terminal/screenshot-live.svg and test/terminal/screenshot.svg.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSandbox } from '../../dist/sandbox/server.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/omni-video.js', import.meta.url));
const work = '/tmp/omni-video-demo';
const COLUMNS = 96;
const ROWS = 6;
/** SGR colours the CLI uses, as a dark terminal theme shows them. */
const COLOURS = { 31: '#ff6b6b', 32: '#5fd068', 33: '#e5c07b', 36: '#56b6c2' };
const FOREGROUND = '#d8dee9';

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, '.bin'), { recursive: true });
chmodSync(bin, 0o755);
symlinkSync(bin, join(work, '.bin', 'omni-video'));

const socket = join(work, '.tmux');
const tmux = (...args) => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const sandbox = await startSandbox({ jobSeconds: 6 });
try {
  const env = {
    PATH: `${join(work, '.bin')}:${process.env.PATH}`,
    HOME: work,
    TERM: 'xterm-256color',
    PS1: '$ ',
    OMNI_VIDEO_CONFIG_DIR: join(work, '.config'),
    OMNI_VIDEO_BASE_URL: sandbox.baseUrl,
    OMNI_VIDEO_API_KEY: 'sk-demo-0000',
  };
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  tmux('new-session', '-d', '-x', String(COLUMNS), '-y', String(ROWS), '-c', work, 'env', '-i', ...assignments, 'sh');
  await sleep(300);
  tmux('send-keys', 'omni-video generate "a red fox running through snow" -o fox.mp4', 'Enter');

  const capture = () => tmux('capture-pane', '-p', '-e');
  let live;
  let done;
  for (let tries = 0; tries < 200 && !done; tries += 1) {
    await sleep(100);
    const screen = capture();
    if (!live && /generating · [1-9]\d*%/.test(screen)) live = screen;
    if (/✔/.test(screen)) done = screen;
  }
  if (!live || !done) throw new Error(`the run did not show what was expected:\n${capture()}`);
  writeFileSync(join(here, 'screenshot-live.svg'), render(live));
  writeFileSync(join(here, 'screenshot.svg'), render(done));
  console.log(`wrote ${join(here, 'screenshot-live.svg')} and ${join(here, 'screenshot.svg')}`);
} finally {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  await sandbox.stop();
}

function escapeXml(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Splits a captured line into runs of text with the colour and dimness in effect. */
function runs(line) {
  const result = [];
  let colour = FOREGROUND;
  let dim = false;
  for (const part of line.split(/(\x1b\[[0-9;]*m)/)) {
    const sgr = /^\x1b\[([0-9;]*)m$/.exec(part);
    if (!sgr) {
      if (part) result.push({ text: part, colour, dim });
      continue;
    }
    for (const code of (sgr[1] || '0').split(';').map(Number)) {
      if (code === 0) [colour, dim] = [FOREGROUND, false];
      else if (code === 2) dim = true;
      else if (code === 22) dim = false;
      else if (code === 39) colour = FOREGROUND;
      else if (COLOURS[code]) colour = COLOURS[code];
    }
  }
  return result;
}

function render(screen) {
  const lines = screen.replace(/\s+$/, '').split('\n').map((line) => line.replace(/\s+$/, ''));
  const charWidth = 8.4;
  const lineHeight = 20;
  const width = Math.round(COLUMNS * charWidth + 32);
  const height = 44 + lines.length * lineHeight + 16;
  const text = lines
    .map((line, index) => {
      const spans = runs(line)
        .map(({ text, colour, dim }) => `<tspan fill="${colour}"${dim ? ' opacity="0.6"' : ''}>${escapeXml(text)}</tspan>`)
        .join('');
      return `  <text x="16" y="${44 + (index + 1) * lineHeight - 5}" xml:space="preserve">${spans}</text>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="14">
  <rect width="${width}" height="${height}" rx="8" fill="#1e222a"/>
  <circle cx="20" cy="18" r="6" fill="#ff5f56"/><circle cx="40" cy="18" r="6" fill="#ffbd2e"/><circle cx="60" cy="18" r="6" fill="#27c93f"/>
${text}
</svg>
`;
}
