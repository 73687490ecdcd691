import { formatTimestamp } from '../io/format.js';
import { stateOfStatus } from '../io/job-states.js';
import { countByState, type GalleryEntry } from './entries.js';

/** What the page shows: data in, one HTML string out (nothing read, nothing written). */
export interface GalleryPage {
  /** The directory's name. */
  title: string;
  /** When the page was made (ms since the epoch). */
  generatedAtMs: number;
  entries: GalleryEntry[];
  /** How many entries there were before --status and --limit. */
  total: number;
  /** The filters in effect, in words ("status failed, the 10 newest"), if any. */
  filter?: string | undefined;
}

/** Text from a batch file or the service, made inert in an element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A relative path as a URL: each segment percent-encoded, so no name can become a scheme, query or fragment. */
export function fileHref(relativePath: string): string {
  return relativePath.split('/').map(encodeURIComponent).join('/');
}

/** Marks a page as this tool's, so that it replaces its own page and no one else's index.html. */
export const GENERATOR = 'omni-video gallery';

type Tone = 'ok' | 'bad' | 'warn' | 'wait' | 'idle';

/** A state's colour: queued, generating and interrupted jobs are still running on the service. */
function toneOf(state: string): Tone {
  if (state === 'completed') return 'ok';
  if (state === 'failed' || state === 'cancelled' || state === 'rejected') return 'bad';
  if (state === 'uncertain') return 'warn';
  if (state === 'not_run') return 'idle';
  return 'wait';
}

const words = (state: string) => state.replace(/_/g, ' ');

const round = (value: number) => Math.round(value * 1000) / 1000;

function costText(cost: number | null, credits: number | null): string | undefined {
  if (cost === null) return undefined;
  return credits === null ? String(round(cost)) : `${round(cost)} (${round(credits)} credits)`;
}

function when(iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(formatTimestamp(Date.parse(iso) / 1000))}</time>`;
}

/** What stands where the video would: the video itself, or why there is none. */
function media(entry: GalleryEntry): string {
  if (entry.file !== null && entry.file_exists) {
    const size = entry.width && entry.height ? ` width="${entry.width}" height="${entry.height}"` : '';
    return `<video controls preload="metadata" muted loop playsinline src="${escapeHtml(fileHref(entry.file))}"${size}></video>`;
  }
  const tone = toneOf(entry.state);
  let heading: string;
  let detail = entry.error?.message;
  if (entry.state === 'completed') {
    heading = entry.file === null ? 'not saved' : 'file missing';
    detail = entry.file === null ? 'The job completed but its video was not saved here.' : `${entry.file} is not in this folder.`;
  } else if (entry.state === 'not_run') {
    heading = 'not run';
    detail ??= 'The batch stopped before this line.';
  } else if (tone === 'wait') {
    // An interrupted job is still queued or generating, as last seen.
    heading = `still ${stateOfStatus(entry.status) === 'generating' ? 'generating' : 'queued'}`;
    detail ??= entry.state === 'interrupted' ? 'Its wait was interrupted while it ran on the service; it was not saved.' : 'The job was still running on the service when this page was made.';
  } else {
    heading = words(entry.state);
  }
  const note = detail ? `<p class="message">${escapeHtml(detail)}</p>` : '';
  return `<div class="notice ${entry.state === 'completed' ? 'warn' : tone}"><strong>${escapeHtml(heading)}</strong>${note}</div>`;
}

/** A term and its value; `kind` names the value for styling (and for the browser test to find it). */
function fact(term: string, value: string, kind = term): string {
  return `<div class="${kind}"><dt>${term}</dt><dd>${value}</dd></div>`;
}

function card(entry: GalleryEntry): string {
  const facts: string[] = [];
  if (entry.aspect_ratio) facts.push(fact('aspect', escapeHtml(entry.aspect_ratio)));
  if (entry.duration_seconds !== null) facts.push(fact('length', `${entry.duration_seconds.toFixed(1)} s`));
  if (entry.width && entry.height) facts.push(fact('frame', `${entry.width}×${entry.height}`));
  // The credits of a clip are in the page's total; its cost alone keeps the card short.
  if (entry.cost !== null) facts.push(fact('cost', String(round(entry.cost))));
  if (entry.created_at) facts.push(fact('created', when(entry.created_at)));
  if (entry.task_id) facts.push(fact('task', escapeHtml(entry.task_id)));
  if (entry.file !== null) {
    const name = escapeHtml(entry.file);
    facts.push(fact('file', entry.file_exists ? `<a href="${escapeHtml(fileHref(entry.file))}">${name}</a>` : `<s>${name}</s>`));
  }
  const tone = toneOf(entry.state);
  const id = entry.task_id ? ` id="${escapeHtml(entry.task_id)}"` : entry.line !== null ? ` id="line-${entry.line}"` : '';
  const prompt = entry.prompt === null ? '<p class="prompt none">no prompt recorded</p>' : `<p class="prompt">${escapeHtml(entry.prompt)}</p>`;
  return [
    `<article class="card${tone === 'bad' ? ' alert' : ''}"${id}>`,
    `<div class="media">${media(entry)}</div>`,
    '<div class="info">',
    `<div class="top"><span class="badge ${tone}">${escapeHtml(words(entry.state))}</span>${entry.line !== null ? `<span class="line">line ${entry.line}</span>` : ''}</div>`,
    prompt,
    `<dl>${facts.join('')}</dl>`,
    '</div>',
    '</article>',
  ].join('\n');
}

function summary(entries: GalleryEntry[]): string {
  const parts = [`${entries.length} clip${entries.length === 1 ? '' : 's'}`];
  for (const [state, count] of countByState(entries)) {
    parts.push(`<span class="tally ${toneOf(state)}">${count} ${escapeHtml(words(state))}</span>`);
  }
  const priced = entries.filter((entry) => entry.cost !== null);
  if (priced.length) {
    const cost = priced.reduce((sum, entry) => sum + (entry.cost ?? 0), 0);
    const credits = priced.reduce((sum, entry) => sum + (entry.credits_cost ?? 0), 0);
    parts.push(`cost ${costText(cost, credits)}`);
  }
  return parts.join(' · ');
}

/**
 * Light and dark schemes from the reader's setting; a grid of cards one column wide on a phone.
 * Each video sits in a square box, so portrait and landscape clips line up.
 */
const STYLE = `
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--text:#1b1f27;--muted:#5d6675;--line:#e1e4ea;--sunken:#eef0f3;--screen:#0b0d10;
--ok:#1a7f37;--bad:#c9252d;--warn:#9a6700;--wait:#0860ca;--idle:#6e7781}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--text:#e6edf3;--muted:#8d96a0;--line:#2d333b;--sunken:#1c2128;--screen:#010409;
--ok:#3fb950;--bad:#f85149;--warn:#d29922;--wait:#58a6ff;--idle:#8b949e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-text-size-adjust:100%}
header,main,footer{max-width:1440px;margin:0 auto;padding:0 20px}
header{padding-top:24px}
h1{font-size:1.4rem;margin:0 0 4px;overflow-wrap:anywhere}
header p{margin:2px 0;color:var(--muted)}
.tally{font-weight:600}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,290px),1fr));gap:18px;padding-top:18px;padding-bottom:24px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;overflow:hidden;display:flex;flex-direction:column;box-shadow:0 1px 2px rgb(0 0 0/.06)}
.card.alert{border-color:color-mix(in srgb,var(--bad) 45%,var(--line))}
.media{aspect-ratio:1;background:var(--screen);display:flex;align-items:center;justify-content:center}
.media video{width:100%;height:100%;object-fit:contain;display:block}
.notice{width:100%;height:100%;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:6px;padding:20px;text-align:center;background:var(--sunken)}
.notice strong{font-size:1.05rem}
.notice .message{margin:0;max-width:32ch;color:var(--text);overflow-wrap:anywhere}
.info{padding:12px 14px 14px;display:flex;flex-direction:column;gap:8px}
.top{display:flex;align-items:center;gap:8px;font-size:.8rem}
.badge{font-weight:600;padding:1px 9px;border-radius:999px;border:1px solid currentColor}
.line{color:var(--muted)}
.prompt{margin:0;font-size:.95rem;overflow-wrap:anywhere;white-space:pre-wrap}
.prompt.none{color:var(--muted);font-style:italic}
dl{display:grid;grid-template-columns:repeat(3,1fr);gap:8px 12px;margin:4px 0 0;padding-top:10px;border-top:1px solid var(--line)}
dl div{min-width:0}
dl .created{grid-column:span 2}
dl .task,dl .file{grid-column:1/-1}
dt{font-size:.68rem;font-weight:600;letter-spacing:.06em;text-transform:uppercase;color:var(--muted)}
dd{margin:0;font-size:.85rem;overflow-wrap:anywhere}
dl .task dd,dl .file dd{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8rem}
a{color:var(--wait)}
s{color:var(--muted)}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}.wait{color:var(--wait)}.idle{color:var(--idle)}
.empty{grid-column:1/-1;color:var(--muted)}
footer{padding-bottom:28px;color:var(--muted);font-size:.8rem}
@media (max-width:640px){header,main,footer{padding-left:12px;padding-right:12px}.media{aspect-ratio:auto}.media video{height:auto;max-height:85vh}.notice{min-height:180px}}
`;

/**
 * One self-contained page: inline CSS, no script, nothing fetched but the clips beside it (the
 * Content-Security-Policy says so to the browser too), every text escaped.
 */
export function renderGalleryPage(page: GalleryPage): string {
  const title = escapeHtml(page.title);
  const made = formatTimestamp(page.generatedAtMs / 1000);
  const shown = page.filter ? `Showing ${page.entries.length} of ${page.total}: ${escapeHtml(page.filter)}. ` : '';
  const body = page.entries.length
    ? page.entries.map(card).join('\n')
    : `<p class="empty">${page.total ? 'No clip matches the filters.' : 'No clips here yet: no job of the history was saved in this folder, and it holds no batch.'}</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="${GENERATOR}">
<title>${title} · omni-video gallery</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<p>${summary(page.entries)}</p>
<p>${shown}Made by omni-video on ${made}.</p>
</header>
<main>
${body}
</main>
<footer>Every clip is a file beside this page: the folder can be zipped, uploaded or served as it is.</footer>
</body>
</html>
`;
}
