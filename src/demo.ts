/**
 * `npm run demo`: starts the sandbox in-process, generates a clip with the real CLI against it,
 * and prints the saved mp4's path as the last line of stdout.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSandbox } from './sandbox/server.js';

const sandbox = await startSandbox({ jobSeconds: 4 });
const bin = fileURLToPath(new URL('../bin/omni-video.js', import.meta.url));
const outputDir = join(process.cwd(), 'demo-output');
process.stderr.write(`Sandbox running at ${sandbox.baseUrl}; generating a clip (about 5 s)…\n`);
const child = spawn(process.execPath, [bin, 'generate', 'a red apple on a table, soft morning light', '-o', `${outputDir}/`], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    OMNI_VIDEO_BASE_URL: sandbox.baseUrl,
    OMNI_VIDEO_API_KEY: 'sk-sandbox-demo',
    OMNI_VIDEO_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'omni-video-demo-')),
  },
});
const code = await new Promise<number>((resolve) => child.on('close', (exitCode) => resolve(exitCode ?? 1)));
await sandbox.stop();
process.exitCode = code;
