import { describe, expect, it } from 'vitest';
import { defineModule } from './context.js';
import { orderModules } from './registry.js';

const mod = (name: string, requires: string[] = []) => defineModule({ name, requires, setup() {} });

describe('module ordering', () => {
  it('puts each module after the modules it requires and keeps the given order otherwise', () => {
    const ordered = orderModules([
      mod('offline', ['message', 'presence']),
      mod('ping'),
      mod('presence'),
      mod('message'),
    ]);
    const names = ordered.map((m) => m.name);
    expect(names.indexOf('offline')).toBeGreaterThan(names.indexOf('message'));
    expect(names.indexOf('offline')).toBeGreaterThan(names.indexOf('presence'));
    expect(names).toEqual(['message', 'presence', 'offline', 'ping']);
  });

  it('refuses a missing dependency, naming both modules', () => {
    expect(() => orderModules([mod('offline', ['message'])])).toThrow(
      'Module offline requires message, which is not in the module list',
    );
  });

  it('refuses a cycle and a module listed twice', () => {
    expect(() => orderModules([mod('a', ['b']), mod('b', ['a'])])).toThrow(/cycle: a → b → a/);
    expect(() => orderModules([mod('a'), mod('a')])).toThrow('Module a is listed twice');
  });
});
