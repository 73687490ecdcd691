/**
 * Case 2: downloads, `omni-video download` against `curl -o` from the same file server, run in
 * turn: a 1 GiB result on loopback (throughput and peak memory), and a 200 MiB result from a file
 * server that sends each download at 40 MiB/s, like a CDN link (`sandbox --download-rate`).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, check, cliEnv, completedTask, interleaved, median, removeDir, startSandboxProcess, submitJob, tempDir, timed } from './lib.js';

const MIB = 1024 ** 2;

/** Downloads one result of `size` bytes with curl and with omni-video, `runs` times each, interleaved. */
async function againstCurl({ size, sandboxFlags, runs }) {
  const dir = tempDir();
  const sandbox = await startSandboxProcess(['--job-seconds', '0.1', '--large-file-bytes', String(size), ...sandboxFlags]);
  try {
    const taskId = await submitJob(sandbox.baseUrl);
    const task = await completedTask(sandbox.baseUrl, taskId);
    const url = [task.result.videos[0].url].flat()[0];
    const env = cliEnv({ OMNI_VIDEO_BASE_URL: sandbox.baseUrl, OMNI_VIDEO_CONFIG_DIR: join(dir, 'config') });
    const target = join(dir, 'video.mp4');
    const saved = (run) => async () => {
      const result = await run();
      const bytes = statSync(target).size;
      if (bytes !== size) throw new Error(`saved ${bytes} bytes, expected ${size}`);
      removeDir(target);
      return result;
    };
    const samples = await interleaved(
      {
        curl: saved(() => timed(['curl', '-sS', '--fail', '-o', target, url], { env, measure: true })),
        ours: saved(() => timed([process.execPath, BIN, 'download', taskId, '-o', target, '--force'], { env, cwd: dir, measure: true })),
      },
      runs,
    );
    // Whole processes, from start to exit: omni-video's includes its start-up and the status request.
    const mibPerS = (results) => median(results.map((result) => size / MIB / (result.ms / 1000)));
    const peakRss = (results) => Math.max(...results.map((result) => result.rssMb));
    return {
      throughput_mib_s: { curl: mibPerS(samples.curl), omni_video: mibPerS(samples.ours) },
      peak_rss_mb: { curl: peakRss(samples.curl), omni_video: peakRss(samples.ours) },
    };
  } finally {
    await sandbox.stop();
    removeDir(dir);
  }
}

const versusCurl = ({ throughput_mib_s: { curl, omni_video } }) => `${omni_video.toFixed(1)} MiB/s vs curl ${curl.toFixed(1)} MiB/s`;

export async function download({ runs }) {
  const result = await againstCurl({ size: 1024 * MIB, sandboxFlags: [], runs });
  const { throughput_mib_s: speed, peak_rss_mb: rss } = result;
  return {
    ...result,
    checks: [
      check('download 1 GiB: throughput ÷ curl', speed.omni_video / speed.curl, { min: 0.5, detail: versusCurl(result) }),
      check('download 1 GiB: peak RSS', rss.omni_video, { max: 120, unit: ' MB', detail: 'highest of all runs' }),
    ],
  };
}

/** 200 MiB at 40 MiB/s: five seconds a run, for curl and omni-video alike. */
export async function cdn({ runs }) {
  const result = await againstCurl({ size: 200 * MIB, sandboxFlags: ['--download-rate', '40M'], runs });
  const { throughput_mib_s: speed } = result;
  return {
    ...result,
    checks: [check('download 200 MiB at 40 MiB/s: throughput ÷ curl', speed.omni_video / speed.curl, { min: 0.95, detail: versusCurl(result) })],
  };
}
