import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DownloadError, OmniVideoError, TaskNotReadyError, WaitTimeoutError } from '../../src/api/errors.js';

describe('hints', () => {
  it('errors the CLI builds take the exact next command when built; the library alone suggests the bare one', () => {
    expect(new TaskNotReadyError('task_1', 'processing').hint).toBe('Wait for it with: omni-video download task_1 --wait');
    expect(new TaskNotReadyError('task_1', 'processing', 'Wait for it with: omni-video download task_1 --wait -o x.mp4').hint).toBe(
      'Wait for it with: omni-video download task_1 --wait -o x.mp4',
    );
    expect(new WaitTimeoutError('task_1', 10).hint).toBe('Resume with: omni-video download task_1 --wait');
    expect(new WaitTimeoutError('task_1', 10, 'Resume with: omni-video status task_1 --wait').hint).toBe('Resume with: omni-video status task_1 --wait');
  });

  it('a hint is a documented, writable property: a caller that knows more replaces it, and the shipped types say so', () => {
    const error = new DownloadError('Download of task task_1 failed', { hint: 'Try again with: omni-video download task_1' });
    error.hint = 'Try again with: omni-video download task_1 -o whale.mp4';
    expect(error.hint).toBe('Try again with: omni-video download task_1 -o whale.mp4');
    expect(error).toBeInstanceOf(OmniVideoError);
    // The declarations the package ships (built by `npm test`): no `readonly` for a caller to get round.
    const types = readFileSync(new URL('../../dist/api/errors.d.ts', import.meta.url), 'utf8');
    expect(types).toMatch(/^ {4}hint: string \| undefined;$/m);
  });
});
