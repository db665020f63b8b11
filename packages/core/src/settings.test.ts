import { describe, expect, it } from 'vitest';
import { resolveSettings, setting } from './settings.js';

const spec = {
  quota: setting.int('QUOTA', 10, 0, 100),
  open: setting.bool('OPEN', false),
  mode: setting.oneOf('MODE', ['a', 'b'] as const, 'a'),
};

describe('module settings', () => {
  it('falls back to defaults and reads what is set', () => {
    const errors: string[] = [];
    expect(resolveSettings(spec, {}, errors)).toEqual({ quota: 10, open: false, mode: 'a' });
    expect(resolveSettings(spec, { QUOTA: '5', OPEN: 'yes', MODE: 'b' }, errors)).toEqual({
      quota: 5,
      open: true,
      mode: 'b',
    });
    expect(errors).toEqual([]);
  });

  it('names every bad value', () => {
    const errors: string[] = [];
    resolveSettings(spec, { QUOTA: '500', OPEN: 'maybe', MODE: 'c' }, errors);
    expect(errors).toEqual([
      'QUOTA must be an integer from 0 to 100 (got "500")',
      'OPEN must be true or false (got "maybe")',
      'MODE must be one of a, b (got "c")',
    ]);
  });
});
