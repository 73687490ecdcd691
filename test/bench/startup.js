/** Case 1: start-up of --version, --help and one status request, against plain node. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, check, cliEnv, completedTask, interleaved, median, removeDir, startSandboxProcess, submitJob, tempDir, timed } from './lib.js';

/** The baseline: the least any Node program can do to fetch the same status and print it. */
const PLAIN_GET = `import { get } from 'node:http';
get(process.argv[2], { headers: { authorization: 'Bearer ' + process.env.OMNI_VIDEO_API_KEY } }, (res) => {
  const chunks = [];
  res.on('data', (chunk) => chunks.push(chunk));
  res.on('end', () => process.stdout.write(Buffer.concat(chunks)));
});
`;

export async function startup({ runs }) {
  const node = process.execPath;
  const dir = tempDir();
  const sandbox = await startSandboxProcess(['--job-seconds', '0.1']);
  try {
    const taskId = await submitJob(sandbox.baseUrl);
    await completedTask(sandbox.baseUrl, taskId);
    const getScript = join(dir, 'get.mjs');
    writeFileSync(getScript, PLAIN_GET);
    const env = cliEnv({ OMNI_VIDEO_BASE_URL: sandbox.baseUrl, OMNI_VIDEO_CONFIG_DIR: join(dir, 'config') });
    const run = (argv) => () => timed(argv, { env, cwd: dir });
    const samples = await interleaved(
      {
        'node -e 0': run([node, '-e', '0']),
        '--version': run([node, BIN, '--version']),
        '--help': run([node, BIN, '--help']),
        'node:http GET': run([node, getScript, `${sandbox.baseUrl}/tasks/${taskId}`]),
        'status --json': run([node, BIN, 'status', taskId, '--json']),
      },
      // Each run is ~50-100 ms: three times the runs cost seconds and steady medians of a few ms.
      runs * 3,
    );
    const ms = Object.fromEntries(Object.entries(samples).map(([name, results]) => [name, median(results.map((result) => result.ms))]));
    const detail = (name, base) => `${ms[name].toFixed(0)} ms vs ${base} ${ms[base].toFixed(0)} ms`;
    return {
      medians_ms: ms,
      checks: [
        check('start-up: --version ÷ node -e 0', ms['--version'] / ms['node -e 0'], { max: 1.5, detail: detail('--version', 'node -e 0') }),
        check('start-up: --help ÷ node -e 0', ms['--help'] / ms['node -e 0'], { max: 1.5, detail: detail('--help', 'node -e 0') }),
        check('start-up: status --json ÷ node:http GET', ms['status --json'] / ms['node:http GET'], { max: 2.5, detail: detail('status --json', 'node:http GET') }),
      ],
    };
  } finally {
    await sandbox.stop();
    removeDir(dir);
  }
}
