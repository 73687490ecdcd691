/** At most `max` characters, the last one `…` when cut; counted by code point, so no emoji is cut in half. */
export function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text;
}

/** 42s, 3m05s, 1h02m. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * Sizes in binary units, named as such (KiB, MiB, GiB: powers of 1024), as the sandbox's
 * `--download-rate` and curl's `--limit-rate` count them.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export const MIB = 1024 * 1024;

/**
 * A measure set against a limit, with one decimal, or as many more as it takes (up to six) not
 * to read as the limit itself: 3.001 s is "3.001", not "3.0", next to a limit of 3 s.
 */
export function formatAgainst(value: number, limit: number): string {
  for (let decimals = 1; decimals < 6; decimals++) {
    const text = value.toFixed(decimals);
    if (Number(text) !== limit || value === limit) return text;
  }
  return value.toFixed(6);
}

/** Unix seconds as `2026-11-25 18:04 UTC`: unambiguous in logs from any zone. */
export function formatTimestamp(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
}

/** How much of an inline file's base64 is shown before its size. */
const DATA_URL_HEAD = 16;

/**
 * A `data:…;base64,` URL as a person wants to see it: its type, the first few characters and
 * the size of what it carries (`data:video/mp4;base64,AAAAIGZ0eXBpc29t…(5.2 MiB)`). Anything
 * else is returned as it is.
 */
export function abbreviateDataUrl(value: string): string {
  const match = /^(data:[^,;]*;base64,)(.*)$/s.exec(value);
  if (!match || match[2]!.length <= DATA_URL_HEAD) return value;
  const payload = match[2]!;
  const bytes = Math.floor((payload.length * 3) / 4) - (payload.endsWith('==') ? 2 : payload.endsWith('=') ? 1 : 0);
  return `${match[1]}${payload.slice(0, DATA_URL_HEAD)}…(${formatBytes(bytes)})`;
}
