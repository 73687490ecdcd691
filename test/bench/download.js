/** Case 2: a 1 GiB result, `omni-video download` against `curl -o`, with peak memory. */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, check, cliEnv, completedTask, interleaved, median, removeDir, startSandboxProcess, submitJob, tempDir, timed } from './lib.js';

const SIZE = 1024 ** 3;

export async function download({ runs }) {
  const dir = tempDir();
  const sandbox = await startSandboxProcess(['--job-seconds', '0.1', '--large-file-bytes', String(SIZE)]);
  try {
    const taskId = await submitJob(sandbox.baseUrl);
    const task = await completedTask(sandbox.baseUrl, taskId);
    const url = [task.result.videos[0].url].flat()[0];
    const env = cliEnv({ OMNI_VIDEO_BASE_URL: sandbox.baseUrl, OMNI_VIDEO_CONFIG_DIR: join(dir, 'config') });
    const target = join(dir, 'video.mp4');
    const saved = (run) => async () => {
      const result = await run();
      const { size } = statSync(target);
      if (size !== SIZE) throw new Error(`saved ${size} bytes, expected ${SIZE}`);
      removeDir(target);
      return result;
    };
    const samples = await interleaved(
      {
        'curl -o': saved(() => timed(['curl', '-sS', '--fail', '-o', target, url], { env, measure: true })),
        'omni-video download': saved(() => timed([process.execPath, BIN, 'download', taskId, '-o', target, '--force'], { env, cwd: dir, measure: true })),
      },
      runs,
    );
    const mibPerS = (name) => median(samples[name].map((result) => SIZE / 1024 ** 2 / (result.ms / 1000)));
    const curl = mibPerS('curl -o');
    const ours = mibPerS('omni-video download');
    const peakRss = Math.max(...samples['omni-video download'].map((result) => result.rssMb));
    return {
      throughput_mib_s: { curl, omni_video: ours },
      peak_rss_mb: { curl: Math.max(...samples['curl -o'].map((result) => result.rssMb)), omni_video: peakRss },
      checks: [
        check('download 1 GiB: throughput ÷ curl', ours / curl, { min: 0.9, detail: `${ours.toFixed(0)} MiB/s vs curl ${curl.toFixed(0)} MiB/s` }),
        check('download 1 GiB: peak RSS', peakRss, { max: 100, unit: ' MB', detail: 'highest of all runs' }),
      ],
    };
  } finally {
    await sandbox.stop();
    removeDir(dir);
  }
}
