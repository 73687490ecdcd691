import { copyFileSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STATE_FILE } from '../../src/commands/batch-input.js';
import { collectEntries, selectEntries } from '../../src/gallery/entries.js';
import { BatchStateWriter, readBatchState } from '../../src/store/batch-state.js';
import { appendJobRecord } from '../../src/store/history.js';
import { tempDir } from '../helpers/harness.js';

const asset = (name: string) => fileURLToPath(new URL(`../../src/sandbox/assets/${name}`, import.meta.url));
const at = (minute: number) => `2026-11-25T18:${String(minute).padStart(2, '0')}:00.000Z`;

/**
 * A directory as a user has it: clips saved by `generate` (one in a subdirectory, one saved twice,
 * one elsewhere), and a batch whose state file was written where the folder used to be.
 */
async function workspace(): Promise<{ dir: string; configDir: string }> {
  const dir = tempDir('ov-gallery-');
  const configDir = tempDir('ov-config-');
  mkdirSync(join(dir, 'sub'));
  copyFileSync(asset('landscape.mp4'), join(dir, 'a.mp4'));
  copyFileSync(asset('portrait.mp4'), join(dir, 'sub', 'b.mp4'));
  copyFileSync(asset('portrait.mp4'), join(dir, 'x.mp4'));
  const saved = async (job: string, minute: number, fields: { prompt?: string; task_id: string; file: string; aspect_ratio?: string }) => {
    await appendJobRecord(configDir, { job, at: at(minute), event: 'created', prompt: fields.prompt, aspect_ratio: fields.aspect_ratio });
    await appendJobRecord(configDir, { job, at: at(minute + 1), event: 'completed', task_id: fields.task_id, status: 'completed', cost: 1, credits_cost: 10 });
    await appendJobRecord(configDir, { job, at: at(minute + 1), event: 'saved', task_id: fields.task_id, file: fields.file });
  };
  await saved('h-old', 1, { prompt: 'an older take', task_id: 'task_OLD', file: join(dir, 'a.mp4'), aspect_ratio: '16:9' });
  await saved('h-a', 5, { prompt: 'a lighthouse at dusk', task_id: 'task_A', file: join(dir, 'a.mp4'), aspect_ratio: '16:9' });
  await saved('h-b', 7, { prompt: 'a kite', task_id: 'task_B', file: join(dir, 'sub', 'b.mp4') });
  await saved('h-elsewhere', 9, { prompt: 'not here', task_id: 'task_E', file: join(tempDir(), 'e.mp4') });

  // The batch ran in /ci/work/clips, since unpacked here: its state file names the old place.
  const state = new BatchStateWriter(join(dir, STATE_FILE));
  await appendJobRecord(configDir, { job: 'b1', at: at(10), event: 'created', prompt: 'a red fox', aspect_ratio: '9:16', batch: 'jobs.jsonl:1' });
  await state.append({ key: 'k1', event: 'submitting', line: 1, job: 'b1' });
  await state.append({ key: 'k1', event: 'submitted', task_id: 'task_X' });
  await state.append({ key: 'k1', event: 'saved', line: 1, task_id: 'task_X', file: '/ci/work/clips/x.mp4', result: { status: 'completed', cost: 1, credits_cost: 10 } });
  await appendJobRecord(configDir, { job: 'b2', at: at(11), event: 'created', prompt: 'a heron', batch: 'jobs.jsonl:2' });
  await state.append({ key: 'k2', event: 'submitting', line: 2, job: 'b2' });
  await state.append({ key: 'k2', event: 'submitted', task_id: 'task_F' });
  await state.append({ key: 'k2', event: 'failed', task_id: 'task_F', error: 'Task task_F failed: policy', result: { status: 'failed', cost: 0, error: { message: 'policy' } } });
  await appendJobRecord(configDir, { job: 'b3', at: at(12), event: 'created', prompt: 'a crane' });
  await state.append({ key: 'k3', event: 'submitting', line: 3, job: 'b3' });
  await appendJobRecord(configDir, { job: 'b4', at: at(13), event: 'created', prompt: 'a stork' });
  await state.append({ key: 'k4', event: 'submitting', line: 4, job: 'b4' });
  await state.append({ key: 'k4', event: 'not_submitted', error: 'Insufficient balance or quota (HTTP 402).' });
  await state.close();
  return { dir, configDir };
}

const brief = (entries: Awaited<ReturnType<typeof collectEntries>>) =>
  entries.map((entry) => [entry.line, entry.task_id, entry.status, entry.prompt, entry.file, entry.file_exists, entry.width && `${entry.width}x${entry.height}`, entry.error?.message ?? null]);

describe('gallery entries', () => {
  it('gathers every job of the batch in line order, then the history clips saved in the directory, newest first, with sizes from the file headers', async () => {
    const { dir, configDir } = await workspace();
    const entries = await collectEntries({ dir, configDir });
    expect(brief(entries)).toEqual([
      // Found under its name in the moved folder.
      [1, 'task_X', 'completed', 'a red fox', 'x.mp4', true, '720x1280', null],
      [2, 'task_F', 'failed', 'a heron', null, false, null, 'policy'],
      [3, null, 'uncertain', 'a crane', null, false, null, 'The batch stopped while submitting it: the service may have the job. Not resubmitted, to avoid paying twice.'],
      [4, null, 'rejected', 'a stork', null, false, null, 'Insufficient balance or quota (HTTP 402).'],
      [null, 'task_B', 'completed', 'a kite', 'sub/b.mp4', true, '720x1280', null],
      // Saved twice: the newest job only.
      [null, 'task_A', 'completed', 'a lighthouse at dusk', 'a.mp4', true, '1280x720', null],
    ]);
    expect(entries.find((entry) => entry.task_id === 'task_B')).toMatchObject({ aspect_ratio: '9:16', duration_seconds: 3, cost: 1, credits_cost: 10, created_at: at(7) });
    expect(entries.find((entry) => entry.task_id === 'task_X')).toMatchObject({ aspect_ratio: '9:16', cost: 1, created_at: at(10) });
  });

  it('adds the lines a batch never reached, with their prompts, in their place', async () => {
    const { dir, configDir } = await workspace();
    const entries = await collectEntries({
      dir,
      configDir,
      lines: [
        { line: 1, key: 'k1', prompt: 'a red fox', aspect_ratio: '9:16', output: join(dir, 'x.mp4') },
        { line: 5, key: 'k5', prompt: 'a swan', aspect_ratio: undefined, output: join(dir, '005-a-swan.mp4') },
      ],
    });
    expect(brief(entries)[4]).toEqual([5, null, 'not_run', 'a swan', '005-a-swan.mp4', false, null, null]);
    expect(entries).toHaveLength(7);
  });

  it('the lines a batch planned but never ran are not run; a line planned again for another line replaces it, and planning the same lines again writes nothing', async () => {
    const { dir, configDir } = await workspace();
    const line = (number: number, key: string, prompt: string) => ({ line: number, key, prompt, aspect_ratio: undefined, output: join(dir, `00${number}-${prompt}.mp4`) });
    const state = new BatchStateWriter(join(dir, STATE_FILE));
    const { plans } = await readBatchState(join(dir, STATE_FILE));
    expect(plans.size).toBe(0);
    await state.plan([line(1, 'k1', 'fox'), line(5, 'k5', 'swan'), line(6, 'k6', 'owl'), line(7, 'k7', 'lark')], plans);
    // The batch file edited: line 5 is another prompt now, line 6 was removed (the lark moved up).
    const before = await readBatchState(join(dir, STATE_FILE));
    await state.plan([line(1, 'k1', 'fox'), line(5, 'k5b', 'swan at dawn'), line(6, 'k7', 'lark')], before.plans);
    const size = statSync(join(dir, STATE_FILE)).size;
    await state.plan([line(1, 'k1', 'fox'), line(5, 'k5b', 'swan at dawn'), line(6, 'k7', 'lark')], (await readBatchState(join(dir, STATE_FILE))).plans);
    await state.close();
    expect(statSync(join(dir, STATE_FILE)).size).toBe(size);
    const entries = await collectEntries({ dir, configDir });
    expect(brief(entries.filter((entry) => entry.line !== null && entry.line >= 5))).toEqual([
      [5, null, 'not_run', 'swan at dawn', '005-swan at dawn.mp4', false, null, null],
      [6, null, 'not_run', 'lark', '006-lark.mp4', false, null, null],
    ]);
    // Line 1 ran: its job, not its plan.
    expect(entries.filter((entry) => entry.line === 1).map((entry) => entry.status)).toEqual(['completed']);
  });

  it('finds the history clips through a symlink to the directory', async () => {
    const { dir, configDir } = await workspace();
    const link = join(tempDir(), 'link');
    symlinkSync(dir, link);
    const entries = await collectEntries({ dir: link, configDir });
    expect(entries.filter((entry) => entry.file_exists).map((entry) => entry.file)).toEqual(['x.mp4', 'sub/b.mp4', 'a.mp4']);
  });

  it('filters by status, then keeps the newest, in page order', async () => {
    const { dir, configDir } = await workspace();
    const entries = await collectEntries({ dir, configDir });
    expect(selectEntries(entries, { states: ['completed'], limit: 2 }).map((entry) => entry.task_id)).toEqual(['task_X', 'task_B']);
    expect(selectEntries(entries, { states: ['failed', 'rejected'] }).map((entry) => entry.status)).toEqual(['failed', 'rejected']);
    expect(selectEntries(entries, { limit: 3 }).map((entry) => entry.line)).toEqual([2, 3, 4]);
    expect(selectEntries(entries, { limit: 0 })).toHaveLength(6);
  });
});
