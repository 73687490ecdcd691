import { lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfigDir, maskKey, parseConfigValue, readConfig, resolveApiKey, setConfigValue, unsetConfigValue } from '../../src/store/config.js';
import { tempDir } from '../helpers/harness.js';
import { resolveOutputPath, safeFileName } from '../../src/commands/output-path.js';
import { colorEnabled } from '../../src/io/streams.js';
import { colorsFor } from '../../src/io/colors.js';
import { parseSeconds } from '../../src/values.js';

describe('config', () => {
  it('masks keys so they can be recognised, never used', () => {
    expect(maskKey('sk-abcdefghijklmnopqrstuvwxyz1234')).toBe('sk-…1234');
    expect(maskKey('abcdefghijklmnop')).toBe('abc…mnop');
    expect(maskKey('short')).toBe('…rt');
  });

  it('resolves the key flag > OMNI_VIDEO_API_KEY > APIMART_API_KEY > store', () => {
    const config = { 'api-key': 'sk-store-key' };
    expect(resolveApiKey('sk-flag', { OMNI_VIDEO_API_KEY: 'a', APIMART_API_KEY: 'b' }, config)).toEqual({ key: 'sk-flag', source: '--api-key' });
    expect(resolveApiKey(undefined, { OMNI_VIDEO_API_KEY: 'a', APIMART_API_KEY: 'b' }, config)).toEqual({ key: 'a', source: 'OMNI_VIDEO_API_KEY' });
    expect(resolveApiKey(undefined, { APIMART_API_KEY: 'b' }, config)).toEqual({ key: 'b', source: 'APIMART_API_KEY' });
    expect(resolveApiKey(undefined, {}, config)).toEqual({ key: 'sk-store-key', source: 'config' });
    expect(resolveApiKey(undefined, {}, {})).toBeUndefined();
  });

  it('stores a value through conf: the file replaced whole, 0600 in a 0700 directory, keys it does not know kept', async () => {
    const dir = join(tempDir(), 'config');
    expect(await setConfigValue(dir, 'timeout', '90')).toBe(90);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ timeout: 90, 'from-a-newer-version': true }));
    await setConfigValue(dir, 'aspect-ratio', '9:16');
    await unsetConfigValue(dir, 'timeout');
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{\n\t"from-a-newer-version": true,\n\t"aspect-ratio": "9:16"\n}');
    expect(await readConfig(dir)).toEqual({ 'aspect-ratio': '9:16' });
    if (process.platform !== 'win32') {
      expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('keeps a config.json that is a symlink one, and updates the file it points to', async () => {
    const dir = tempDir();
    const target = join(tempDir(), 'omni-video.json');
    writeFileSync(target, '{"timeout": 90}');
    symlinkSync(target, join(dir, 'config.json'));
    await setConfigValue(dir, 'aspect-ratio', '9:16');
    expect(lstatSync(join(dir, 'config.json')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(target, 'utf8'))).toEqual({ timeout: 90, 'aspect-ratio': '9:16' });
  });

  it('refuses to update a config file it cannot read as JSON, and leaves it as it was', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), '{"timeout": 9');
    await expect(setConfigValue(dir, 'timeout', '90')).rejects.toThrow(/config\.json is not valid JSON/);
    await expect(unsetConfigValue(dir, 'timeout')).rejects.toThrow(/config\.json is not valid JSON/);
    await expect(readConfig(dir)).rejects.toThrow(/config\.json is not valid JSON/);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{"timeout": 9');
  });

  it('validates values per key, reading them in the forms the flags take', () => {
    expect(parseConfigValue('timeout', '90')).toBe(90);
    expect(parseConfigValue('timeout', '10s')).toBe(10);
    expect(parseConfigValue('timeout', '5m')).toBe(300);
    expect(parseConfigValue('poll-interval', '0.5')).toBe(0.5);
    expect(() => parseConfigValue('timeout', '-1')).toThrow(/^Invalid value for timeout: use a number of seconds \(at least 1\), or a duration such as 90s, 5m or 1h\.$/);
    expect(() => parseConfigValue('poll-interval', '0.2')).toThrow(/Invalid value for poll-interval: .*at least 0\.5/);
    expect(() => parseConfigValue('base-url', 'ftp://x')).toThrow(/Invalid value for base-url/);
    expect(parseConfigValue('aspect-ratio', '9:16')).toBe('9:16');
    expect(parseConfigValue('aspect-ratio', 'Portrait')).toBe('9:16');
    expect(parseConfigValue('aspect-ratio', 'landscape')).toBe('16:9');
    expect(() => parseConfigValue('aspect-ratio', '4:3')).toThrow(/^Invalid value for aspect-ratio: use 16:9 \(landscape\) or 9:16 \(portrait\)\.$/);
    expect(parseConfigValue('output-dir', '~/clips')).toBe(join(homedir(), 'clips'));
    expect(parseConfigValue('output-dir', 'clips/~')).toBe('clips/~');
  });

  it('reads durations as --timeout does, one parser for both', () => {
    for (const [text, seconds] of [['90', 90], ['1.5', 1.5], ['90s', 90], [' 5m ', 300], ['1.5m', 90], ['1h', 3600], ['2H', 7200]] as const) {
      expect(parseSeconds(text), text).toBe(seconds);
    }
    for (const text of ['', 's', '5 minutes', '-1', '1e3', '0x10', '5ms']) expect(parseSeconds(text), text).toBeUndefined();
  });

  it('puts config in OMNI_VIDEO_CONFIG_DIR, else the platform directory', () => {
    expect(defaultConfigDir({ OMNI_VIDEO_CONFIG_DIR: '/x' })).toBe('/x');
    expect(defaultConfigDir({ XDG_CONFIG_HOME: '/home/u/.cfg' }, 'linux')).toBe('/home/u/.cfg/omni-video');
  });
});

describe('output paths', () => {
  it('never lets a name escape the directory or carry characters Windows refuses', () => {
    expect(safeFileName('../../etc/passwd')).toBe('etc_passwd');
    expect(safeFileName('a:b*c?.mp4')).toBe('a_b_c_.mp4');
    expect(safeFileName('...')).toBe('video');
  });

  it('resolves -o as a file, a directory with a trailing /, or the configured directory', async () => {
    expect(await resolveOutputPath({ cwd: '/w', output: 'x.mp4', taskId: 't' })).toBe('/w/x.mp4');
    expect(await resolveOutputPath({ cwd: '/w', output: 'clips/', taskId: 't' })).toBe('/w/clips/t.mp4');
    expect(await resolveOutputPath({ cwd: '/w', outputDir: '/out', taskId: 't' })).toBe('/out/t.mp4');
    expect(await resolveOutputPath({ cwd: '/w', taskId: 't' })).toBe('/w/t.mp4');
  });
});

describe('colour', () => {
  it('is on for a terminal, off for NO_COLOR, pipes and TERM=dumb; FORCE_COLOR forces it', () => {
    expect(colorEnabled({}, true)).toBe(true);
    expect(colorEnabled({}, false)).toBe(false);
    expect(colorEnabled({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colorEnabled({ TERM: 'dumb' }, true)).toBe(false);
    expect(colorEnabled({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(colorEnabled({ FORCE_COLOR: '0' }, true)).toBe(false);
  });

  it('is chalk at the basic 16 colours when on, plain text when off', () => {
    expect(colorsFor({ color: true }).red('✖')).toBe('\u001b[31m✖\u001b[39m');
    expect(colorsFor({ color: true }).dim('trace')).toBe('\u001b[2mtrace\u001b[22m');
    expect(colorsFor({ color: false }).red('✖')).toBe('✖');
  });
});
