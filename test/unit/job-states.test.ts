import { describe, expect, it } from 'vitest';
import { stateOfJob, stateOfStatus } from '../../src/io/job-states.js';

describe('job state words', () => {
  it('the API words are shown as the tool says them; an unknown one as it is', () => {
    expect([stateOfStatus('submitted'), stateOfStatus('pending'), stateOfStatus('processing'), stateOfStatus('moderating')]).toEqual(['queued', 'queued', 'generating', 'moderating']);
  });

  it('a status holding control characters (a crafted batch state file, a misbehaving service) reaches no terminal as escape codes', () => {
    expect(stateOfStatus('\x1b]0;pwned\x07done\x1b[2J\r\n')).toBe('?]0;pwned?done?[2J??');
    expect(stateOfJob({ status: 'ok\x1b[31m', last_event: 'status' })).toBe('ok?[31m');
  });
});
